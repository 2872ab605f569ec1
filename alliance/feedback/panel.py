"""What the therapist's session page shows about client-facing forms (links, kiosk passes)."""

from __future__ import annotations

from django.db.models import Count, Max

from alliance.care.feedback import instrument_for
from alliance.care.models import Administration, Session, rater_label

from .models import FeedbackLink, LinkState


def live_stamp(session: Session) -> str:
    """Changes whenever a rating of the session is stored, edited or removed."""
    summary = Administration.objects.filter(agency_id=session.agency_id, session=session).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    last = summary["last"].timestamp() if summary["last"] else 0
    return f"{summary['n']}-{last:.6f}"


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
    return {
        "rows": rows,
        "forms": forms,
        "raters": raters,
        "waiting": any(row["state"] == LinkState.OPEN for row in rows),
    }
