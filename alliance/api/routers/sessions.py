"""``/sessions``: list, start (or reuse) and read sessions; set their attendance."""

from __future__ import annotations

from ninja import Router, Status
from ninja.pagination import paginate

from alliance.accounts.network import client_ip
from alliance.care import services
from alliance.care.models import ATTENDANCE_NOT_SET

from .. import lookups, schemas
from ..auth import actor, require_write
from ..errors import ERRORS
from ..serializers import Mapped, mapped, session_out

router = Router(tags=["sessions"])


@router.get("/sessions", response={200: list[schemas.SessionOut], **ERRORS})
@paginate(Mapped)
def list_sessions(request, episode: str | None = None):
    # A session only started on the web page, with nothing recorded, is not a session yet.
    sessions = lookups.sessions(request).exclude(attendance=ATTENDANCE_NOT_SET)
    if episode:
        sessions = sessions.filter(episode__public_id=episode)
    return mapped(sessions.order_by("episode_id", "number"), session_out)


@router.post("/sessions", response={201: schemas.SessionOut, **ERRORS})
def start_session(request, payload: schemas.SessionIn):
    """Start (or reuse) the session of the client's open episode on a date (default today)."""
    require_write(request)
    client = lookups.client(request, payload.client)
    session = services.start_session(
        actor(request),
        client,
        on=payload.date,
        attendance=payload.attendance,
        ip=client_ip(request),
    )
    return Status(201, session_out(lookups.session(request, session.public_id)))


@router.get("/sessions/{session_id}", response={200: schemas.SessionOut, **ERRORS})
def get_session(request, session_id: str):
    return session_out(lookups.session(request, session_id))


@router.patch("/sessions/{session_id}", response={200: schemas.SessionOut, **ERRORS})
def update_session(request, session_id: str, payload: schemas.SessionPatch):
    require_write(request)
    session = lookups.session(request, session_id)
    services.set_attendance(actor(request), session, payload.attendance, ip=client_ip(request))
    return session_out(lookups.session(request, session_id))
