"""``/administrations``: list, record (idempotent), read, correct and undo completed forms."""

from __future__ import annotations

import uuid

from ninja import Router, Status
from ninja.pagination import paginate

from alliance.accounts.network import client_ip
from alliance.care import services

from .. import lookups, schemas
from ..auth import actor, require_write
from ..errors import ERRORS
from ..serializers import Mapped, administration_out, mapped

router = Router(tags=["administrations"])


@router.get("/administrations", response={200: list[schemas.AdministrationOut], **ERRORS})
@paginate(Mapped)
def list_administrations(request, episode: str | None = None, session: str | None = None):
    administrations = lookups.administrations(request)
    if episode:
        administrations = administrations.filter(episode__public_id=episode)
    if session:
        administrations = administrations.filter(session__public_id=session)
    return mapped(
        administrations.order_by("episode_id", "session__number", "instrument", "rater", "pk"),
        administration_out,
    )


@router.post(
    "/administrations",
    response={200: schemas.AdministrationOut, 201: schemas.AdministrationOut, **ERRORS},
)
def record_administration(request, payload: schemas.AdministrationIn):
    """Record a completed form (201), or answer the stored one for a repeated key (200).

    A second form for the same session, instrument and rater is refused (409): a rating is
    changed only on purpose, with PATCH (an audited edit).
    A repeated key answers what that key stored, even when a later edit changed the form.
    """
    require_write(request)
    session = lookups.session(request, payload.session)
    lookups.instrument(payload.instrument)
    result = _record(
        request,
        session,
        payload.idempotency_key,
        **payload.dict(exclude={"session", "idempotency_key"}),
    )
    stored = lookups.administration(request, result.administration.public_id)
    body = administration_out(stored)
    if result.replayed is not None:
        body.update({key: result.replayed[key] for key in body.keys() & result.replayed.keys()})
    return Status(201 if result.created else 200, body)


def _record(request, session, idempotency_key: str, **form):
    """The care service records (or edits) the form as the token's user."""
    return services.record_administration(
        actor(request), session, idempotency_key=idempotency_key, ip=client_ip(request), **form
    )


@router.get(
    "/administrations/{administration_id}",
    response={200: schemas.AdministrationOut, **ERRORS},
)
def get_administration(request, administration_id: str):
    return administration_out(lookups.administration(request, administration_id))


@router.patch(
    "/administrations/{administration_id}",
    response={200: schemas.AdministrationOut, **ERRORS},
)
def update_administration(request, administration_id: str, payload: schemas.AdministrationPatch):
    """Correct the items or the total (stored as an edit in the audit trail)."""
    require_write(request)
    administration = lookups.administration(request, administration_id)
    _record(
        request,
        administration.session,
        f"api-edit-{uuid.uuid4().hex}",
        instrument=administration.instrument,
        rater=administration.rater,
        rater_relationship=administration.rater_relationship,
        entry_mode=administration.entry_mode,
        items=payload.items,
        total=payload.total,
        replace=True,
    )
    return administration_out(lookups.administration(request, administration_id))


@router.delete("/administrations/{administration_id}", response={204: None, **ERRORS})
def delete_administration(request, administration_id: str):
    require_write(request)
    administration = lookups.administration(request, administration_id)
    services.undo_administration(actor(request), administration, ip=client_ip(request))
    return Status(204, None)
