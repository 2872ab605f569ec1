"""``/clients``: list, create (with an open episode), read and update clients."""

from __future__ import annotations

from django.utils.translation import gettext as _
from ninja import Router, Status
from ninja.pagination import paginate

from alliance.accounts.models import Membership, Role, Team
from alliance.accounts.network import client_ip
from alliance.care import services

from .. import lookups, schemas
from ..auth import ApiError, actor, require_write, role_of
from ..errors import ERRORS
from ..serializers import Mapped, client_out, mapped

router = Router(tags=["clients"])


@router.get("/clients", response={200: list[schemas.ClientOut], **ERRORS})
@paginate(Mapped)
def list_clients(request):
    return mapped(lookups.clients(request).order_by("display_code", "pk"), client_out)


@router.post("/clients", response={201: schemas.ClientOut, **ERRORS})
def create_client(request, payload: schemas.ClientIn):
    require_write(request)
    user = actor(request)
    agency = request.auth.agency
    therapist = user
    if payload.therapist and payload.therapist != user.username:
        if role_of(request) == Role.THERAPIST:
            raise ApiError(403, "forbidden", _("a therapist can only create their own clients"))
        membership = (
            Membership.objects.filter(agency=agency, user__username=payload.therapist)
            .select_related("user")
            .first()
        )
        if membership is None:
            raise ApiError(422, "unknown_therapist", _("no such therapist in this agency"))
        therapist = membership.user
    team = None
    if payload.team:
        team = Team.objects.filter(agency=agency, name=payload.team).first()
        if team is None:
            raise ApiError(422, "unknown_team", _("no such team in this agency"))
    # A display code in use is the service's DuplicateError (409), in a race as well.
    client = services.create_client(
        user,
        agency,
        display_code=payload.display_code,
        therapist=therapist,
        age_band=payload.age_band,
        birth_year=payload.birth_year,
        name=payload.name,
        team=team,
        start_date=payload.start_date,
        outcome_instrument=payload.outcome_instrument,
        alliance_instrument=payload.alliance_instrument,
        language=payload.language,
        ip=client_ip(request),
    )
    return Status(201, client_out(lookups.client(request, client.public_id)))


@router.get("/clients/{client_id}", response={200: schemas.ClientOut, **ERRORS})
def get_client(request, client_id: str):
    return client_out(lookups.client(request, client_id))


@router.patch("/clients/{client_id}", response={200: schemas.ClientOut, **ERRORS})
def update_client(request, client_id: str, payload: schemas.ClientPatch):
    require_write(request)
    client = lookups.client(request, client_id)
    changes = payload.dict(exclude_unset=True)
    if changes.get("age_band", "") is None:
        raise ApiError(422, "invalid", _("age_band cannot be null"))
    if "language" in changes and changes["language"] is None:
        changes["language"] = ""
    if changes:
        services.update_client(actor(request), client, ip=client_ip(request), **changes)
    return client_out(lookups.client(request, client_id))
