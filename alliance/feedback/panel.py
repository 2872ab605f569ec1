"""What the therapist's session page shows about client-facing forms (links, kiosk passes).

The page is care's; it asks for this panel through ``alliance.care.hooks.session_page`` (connected
in ``FeedbackConfig.ready``), so care does not import the feedback app.
"""

from __future__ import annotations

from django.utils import translation

from alliance.care.feedback import instrument_for
from alliance.care.models import Session, client_language, form_languages, rater_label

from .models import FeedbackLink, LinkState

# A refused "send a link" form: the message the session page shows in the form (never the
# address that was typed), kept in the therapist's browser session for the redirect.
LINK_FORM_ERROR = "feedback_link_error"


def session_page_context(sender, *, request, session: Session, **kwargs) -> dict:
    """The receiver of ``care.hooks.session_page``: the panel under ``link_panel``."""
    return {"link_panel": link_panel(request, session)}


def link_panel(request, session: Session) -> dict:
    episode = session.episode
    links = list(
        FeedbackLink.objects.filter(agency_id=session.agency_id, session=session).order_by(
            "-created_at"
        )[:10]
    )
    rows = [
        {
            "link": link,
            "state": link.state(),
            "state_label": LinkState(link.state()).label,
            "form": instrument_for(link.instrument).short_name or link.instrument.upper(),
            "rater": rater_label(link.rater),
        }
        for link in links
    ]
    forms = [
        (code, instrument_for(code).short_name or code.upper())
        for code in (episode.outcome_instrument, episode.alliance_instrument)
    ]
    raters = [(r, rater_label(r)) for r in ["client", *episode.raters]]
    error = {}
    store = getattr(request, "session", None)
    if store is not None and store.get(LINK_FORM_ERROR, {}).get("session") == session.public_id:
        error = store.pop(LINK_FORM_ERROR)
    return {
        "error": error.get("message", ""),
        "channel": error.get("channel", ""),
        "rows": rows,
        "forms": forms,
        "raters": raters,
        # The language the forms open in: the client's, else the staff member's (changeable).
        "languages": form_languages(),
        "language": client_language(episode.client, translation.get_language()),
        "waiting": any(row["state"] == LinkState.OPEN for row in rows),
    }
