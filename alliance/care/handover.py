"""Hand-over: the browser session locked on the client's side of one session.

The therapist starts a hand-over for one scale (the ORS at the start of a session, the SRS at
the end, or both one after the other); from then on the signed-in browser session reaches only
the client's form, the neutral "please hand the device back" page and the give-back page, where
the therapist re-authenticates (PIN or password, per agency). Every other page of the site
redirects there: the lock is this one middleware, not checks spread over the views.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

SESSION_KEY = "care_handover"


@dataclass
class Handover:
    """What the locked browser session may do: fill in these forms of this session."""

    agency_id: int
    session_id: str  # Session.public_id
    client_id: str  # Client.public_id
    number: int
    instruments: list[str]
    done: list[str] = field(default_factory=list)
    failures: int = 0
    # Said once on the next page (a polite announcement after a saved scale).
    announce: str = ""

    def next_instrument(self) -> str | None:
        return next((code for code in self.instruments if code not in self.done), None)

    def home(self) -> str:
        """Where the locked device belongs: the next form, or the neutral thank-you page."""
        return reverse("handover" if self.next_instrument() else "handover_thanks")


def current(request: HttpRequest) -> Handover | None:
    session = getattr(request, "session", None)
    raw = session.get(SESSION_KEY) if session is not None else None
    if not raw:
        return None
    try:
        return Handover(**raw)
    except TypeError:  # a state written by another version: keep the device locked
        return Handover(
            agency_id=raw.get("agency_id", 0),
            session_id=raw.get("session_id", ""),
            client_id=raw.get("client_id", ""),
            number=raw.get("number", 0),
            instruments=[],
        )


def keep(request: HttpRequest, state: Handover) -> None:
    request.session[SESSION_KEY] = asdict(state)


def clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def _open_paths() -> set[str]:
    """The only pages a locked browser session reaches."""
    return {
        reverse("handover"),
        reverse("handover_thanks"),
        reverse("handover_give_back"),
        reverse("set_language"),
        reverse("healthz"),
    }


class HandoverLockMiddleware:
    """While a hand-over is on, every other page redirects to the hand-over (or thank-you) page:
    caseload, clients, reports, the admin, and the API reached with the session cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        state = current(request)
        if state is not None:
            if not request.user.is_authenticated:
                clear(request)
            elif request.path not in _open_paths() and not request.path.startswith(
                settings.STATIC_URL
            ):
                return redirect(state.home())
        return self.get_response(request)
