"""The versioned REST API: ``/api/v1/`` (OpenAPI at ``/api/v1/openapi.json``, docs at ``/docs``).

Views are thin: reads go through ``alliance.care.visibility`` (404 for anything outside the
token user's reach, including other agencies), writes through ``alliance.care.services``.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import Http404
from ninja import Body, Field, File, NinjaAPI, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.files import UploadedFile
from ninja.openapi.docs import Swagger
from ninja.pagination import LimitOffsetPagination, paginate

from alliance.accounts.models import Membership, Role, Team
from alliance.accounts.network import client_ip
from alliance.care import services
from alliance.care.feedback import episode_feedback, instrument_for
from alliance.care.models import Administration, Client, Episode, Session
from alliance.care.visibility import visible_clients, visible_episodes
from alliance.science.etr import EtrError
from alliance.science.instruments import ResponseError, UnknownInstrumentError

from . import imports, schemas
from . import services as api_services
from .auth import ApiError, RateLimited, TokenAuth, actor, require_admin, require_write, role_of
from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

DESCRIPTION = """Alliance REST API, version 1.

Authenticate with `Authorization: Bearer <token>` (create one with `alliance token create`).
Tokens have the scope `read` or `write`; every request is limited per token (default 600 per
minute: 429 with `Retry-After` beyond). Errors are JSON `{"code", "message"}`; lists are paginated
with `limit` and `offset` and answer `{"items", "count"}`. See docs/api.md.
"""

api = NinjaAPI(
    title="Alliance API",
    version="1",
    description=DESCRIPTION,
    auth=TokenAuth(),
    urls_namespace="api-v1",
    docs_url="/docs",
    # Swagger UI from ninja's static files; no validator badge fetched from validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
    openapi_url="/openapi.json",
)
# Every operation documents the error answers it may give (JSON {"code", "message"}).
ERROR_STATUSES = frozenset({400, 401, 403, 404, 409, 413, 422, 429})
ERRORS = {ERROR_STATUSES: schemas.Error}


def _error(request, status: int, code: str, message: str, errors=None, headers=None):
    body = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = json.loads(json.dumps(errors, default=str))
    response = api.create_response(request, body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return _error(request, exc.status, exc.code, exc.message, exc.errors)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "not_found", "not found (or not visible to this token)")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(
        request,
        401,
        "unauthenticated",
        "a valid, unexpired bearer token is required",
        headers={"WWW-Authenticate": 'Bearer realm="alliance"'},
    )


@api.exception_handler(RateLimited)
def _rate_limited(request, exc: RateLimited):
    return _error(
        request,
        429,
        "rate_limited",
        f"too many requests; retry after {exc.retry_after} s",
        headers={"Retry-After": str(exc.retry_after)},
    )


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    return _error(request, 422, "invalid", "the request is not valid", exc.errors)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return _error(request, exc.status_code, "bad_request", str(exc))


@api.exception_handler(services.ServiceError)
def _rule_broken(request, exc):
    return _error(request, 422, "rule_broken", str(exc))


@api.exception_handler(ResponseError)
def _invalid_response(request, exc: ResponseError):
    item = getattr(exc, "item", None)
    errors = [{"item": item}] if item else None
    return _error(request, 422, "invalid_scores", str(exc), errors)


@api.exception_handler(IntegrityError)
def _conflict(request, exc):
    return _error(request, 409, "conflict", "this conflicts with an existing record")


# --- serialisers ---------------------------------------------------------------------------


def client_out(client: Client) -> dict:
    return {
        "id": client.public_id,
        "display_code": client.display_code,
        "name": client.name,
        "birth_year": client.birth_year,
        "age_band": client.age_band,
        "therapist": client.therapist.username,
        "team": client.team.name if client.team_id else None,
        "created_at": client.created_at,
    }


def episode_out(episode: Episode) -> dict:
    return {
        "id": episode.public_id,
        "client": episode.client.public_id,
        **{
            name: getattr(episode, name)
            for name in (
                "start_date",
                "end_date",
                "ending",
                "outcome_instrument",
                "alliance_instrument",
                "session_count",
                "last_session_date",
                "intake_total",
                "last_outcome_total",
                "zone",
                "last_alliance_total",
                "alliance_flag",
            )
        },
    }


def session_out(session: Session) -> dict:
    return {
        "id": session.public_id,
        "episode": session.episode.public_id,
        "number": session.number,
        "date": session.date,
        "attendance": session.attendance,
    }


def administration_out(administration: Administration) -> dict:
    return {
        "id": administration.public_id,
        "episode": administration.episode.public_id,
        "session": administration.session.public_id,
        "session_number": administration.session.number,
        "instrument": administration.instrument,
        "rater": administration.rater,
        "items": administration.items or {},
        "total": administration.total,
        "total_only": administration.total_only,
        "entry_mode": administration.entry_mode,
        "created_at": administration.created_at,
        "updated_at": administration.updated_at,
    }


class Mapped(LimitOffsetPagination):
    """Limit/offset pagination (default 50, at most 500) that serialises the page it returns."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=500, description="page size (default 50, at most 500)")
        offset: int = Field(0, ge=0)

    def __init__(self, **kwargs):
        super().__init__(max_limit=500, **kwargs)

    def paginate_queryset(self, queryset, pagination, request, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        mapper = getattr(queryset, "api_mapper", None)
        if mapper is not None:
            page["items"] = [mapper(row) for row in page["items"]]
        return page


def _mapped(queryset, mapper):
    queryset.api_mapper = mapper
    return queryset


# --- lookups through visibility --------------------------------------------------------------


def _client(request, public_id: str) -> Client:
    try:
        return (
            visible_clients(actor(request))
            .select_related("therapist", "team")
            .get(public_id=public_id)
        )
    except Client.DoesNotExist:
        raise Http404 from None


def _episodes(request):
    return visible_episodes(actor(request)).select_related("client")


def _episode(request, public_id: str) -> Episode:
    try:
        return _episodes(request).get(public_id=public_id)
    except Episode.DoesNotExist:
        raise Http404 from None


def _sessions(request):
    user = actor(request)
    return Session.objects.filter(
        agency_id=request.auth.agency_id, episode__in=visible_episodes(user).values("pk")
    ).select_related("episode")


def _session(request, public_id: str) -> Session:
    try:
        return _sessions(request).get(public_id=public_id)
    except Session.DoesNotExist:
        raise Http404 from None


def _administrations(request):
    user = actor(request)
    return Administration.objects.filter(
        agency_id=request.auth.agency_id, episode__in=visible_episodes(user).values("pk")
    ).select_related("episode", "session")


def _administration(request, public_id: str) -> Administration:
    try:
        return _administrations(request).get(public_id=public_id)
    except Administration.DoesNotExist:
        raise Http404 from None


# --- me --------------------------------------------------------------------------------------

router = Router()


@router.get("/me", response={200: schemas.MeOut, **ERRORS}, tags=["tokens"])
def me(request):
    """Who the token acts as."""
    token = request.auth
    return {
        "username": token.user.username,
        "agency": token.agency.name,
        "role": role_of(request),
        "token_prefix": token.prefix,
        "token_kind": token.kind,
        "scope": token.scope,
        "expires_at": token.expires_at,
    }


# --- clients ---------------------------------------------------------------------------------


@router.get("/clients", response={200: list[schemas.ClientOut], **ERRORS}, tags=["clients"])
@paginate(Mapped)
def list_clients(request):
    clients = visible_clients(actor(request)).select_related("therapist", "team")
    return _mapped(clients.order_by("display_code", "pk"), client_out)


@router.post("/clients", response={201: schemas.ClientOut, **ERRORS}, tags=["clients"])
def create_client(request, payload: schemas.ClientIn):
    require_write(request)
    user = actor(request)
    agency = request.auth.agency
    therapist = user
    if payload.therapist and payload.therapist != user.username:
        if role_of(request) == Role.THERAPIST:
            raise ApiError(403, "forbidden", "a therapist can only create their own clients")
        membership = (
            Membership.objects.filter(agency=agency, user__username=payload.therapist)
            .select_related("user")
            .first()
        )
        if membership is None:
            raise ApiError(422, "unknown_therapist", "no such therapist in this agency")
        therapist = membership.user
    team = None
    if payload.team:
        team = Team.objects.filter(agency=agency, name=payload.team).first()
        if team is None:
            raise ApiError(422, "unknown_team", "no such team in this agency")
    if Client.objects.filter(agency=agency, display_code=payload.display_code).exists():
        raise ApiError(409, "conflict", "a client with this display code exists")
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
        ip=client_ip(request),
    )
    return Status(201, client_out(_client(request, client.public_id)))


@router.get("/clients/{client_id}", response={200: schemas.ClientOut, **ERRORS}, tags=["clients"])
def get_client(request, client_id: str):
    return client_out(_client(request, client_id))


@router.patch("/clients/{client_id}", response={200: schemas.ClientOut, **ERRORS}, tags=["clients"])
def update_client(request, client_id: str, payload: schemas.ClientPatch):
    require_write(request)
    client = _client(request, client_id)
    changes = payload.dict(exclude_unset=True)
    if changes.get("age_band", "") is None:
        raise ApiError(422, "invalid", "age_band cannot be null")
    if changes:
        services.update_client(actor(request), client, ip=client_ip(request), **changes)
    return client_out(_client(request, client_id))


# --- episodes --------------------------------------------------------------------------------


@router.get("/episodes", response={200: list[schemas.EpisodeOut], **ERRORS}, tags=["episodes"])
@paginate(Mapped)
def list_episodes(request, client: str | None = None):
    episodes = _episodes(request)
    if client:
        episodes = episodes.filter(client__public_id=client)
    return _mapped(episodes.order_by("start_date", "pk"), episode_out)


@router.get(
    "/episodes/{episode_id}", response={200: schemas.EpisodeOut, **ERRORS}, tags=["episodes"]
)
def get_episode(request, episode_id: str):
    return episode_out(_episode(request, episode_id))


@router.post(
    "/episodes/{episode_id}/close",
    response={200: schemas.EpisodeOut, **ERRORS},
    tags=["episodes"],
)
def close_episode(request, episode_id: str, payload: schemas.EpisodeClose):
    require_write(request)
    episode = _episode(request, episode_id)
    services.close_episode(
        actor(request), episode, payload.ending, on=payload.on, ip=client_ip(request)
    )
    return episode_out(_episode(request, episode_id))


@router.get(
    "/episodes/{episode_id}/signals",
    response={200: schemas.SignalsOut, **ERRORS},
    tags=["episodes"],
)
def episode_signals(request, episode_id: str):
    """Session colours, alliance flags, current alerts and the ETR trajectory of an episode."""
    episode = _episode(request, episode_id)
    feedback = episode_feedback(episode, list(Administration.objects.of_episode(episode)))
    signals = feedback.signals
    etr = None
    if feedback.outcome and feedback.model is not None:
        intake = feedback.outcome[0][1]
        last = max(feedback.outcome[-1][0] - feedback.outcome[0][0] + 1, 1)
        trajectory = feedback.model.predict(intake, list(range(1, max(last, 10) + 1)))
        model = feedback.model
        try:
            first = feedback.outcome[0][0]
            probability = model.success_probability(
                intake, [(n - first + 1, total) for n, total in feedback.outcome]
            )
        except (EtrError, ValueError):
            probability = None
        etr = {
            "model": model.name,
            "provenance": model.provenance,
            "provisional": model.provisional,
            "intake": intake,
            "sessions": [int(s) for s in trajectory.sessions],
            "target": [float(v) for v in trajectory.target],
            "negative": [float(v) for v in trajectory.negative],
            "success_probability": None if probability is None else float(probability),
        }
    return {
        "episode": episode.public_id,
        "outcome": [[number, total] for number, total in feedback.outcome],
        "colours": [{"session_number": n, "colour": c} for n, c in sorted(signals.colours.items())],
        "alliance_colours": [
            {"session_number": n, "colour": c} for n, c in sorted(signals.alliance_colours.items())
        ],
        "latest_colour": signals.latest_colour,
        "latest_alliance_colour": signals.latest_alliance_colour,
        "alerts": [
            {
                "code": a.code,
                "session_number": a.session_number,
                "severity": a.severity,
                "reason": str(a.reason),
            }
            for a in signals.alerts
        ],
        "etr": etr,
    }


# --- sessions --------------------------------------------------------------------------------


@router.get("/sessions", response={200: list[schemas.SessionOut], **ERRORS}, tags=["sessions"])
@paginate(Mapped)
def list_sessions(request, episode: str | None = None):
    sessions = _sessions(request)
    if episode:
        sessions = sessions.filter(episode__public_id=episode)
    return _mapped(sessions.order_by("episode_id", "number"), session_out)


@router.post("/sessions", response={201: schemas.SessionOut, **ERRORS}, tags=["sessions"])
def start_session(request, payload: schemas.SessionIn):
    """Start (or reuse) the session of the client's open episode on a date (default today)."""
    require_write(request)
    client = _client(request, payload.client)
    session = services.start_session(
        actor(request),
        client,
        on=payload.date,
        attendance=payload.attendance,
        ip=client_ip(request),
    )
    return Status(201, session_out(_session(request, session.public_id)))


@router.get(
    "/sessions/{session_id}", response={200: schemas.SessionOut, **ERRORS}, tags=["sessions"]
)
def get_session(request, session_id: str):
    return session_out(_session(request, session_id))


@router.patch(
    "/sessions/{session_id}", response={200: schemas.SessionOut, **ERRORS}, tags=["sessions"]
)
def update_session(request, session_id: str, payload: schemas.SessionPatch):
    require_write(request)
    session = _session(request, session_id)
    services.set_attendance(actor(request), session, payload.attendance, ip=client_ip(request))
    return session_out(_session(request, session_id))


# --- administrations -------------------------------------------------------------------------


@router.get(
    "/administrations",
    response={200: list[schemas.AdministrationOut], **ERRORS},
    tags=["administrations"],
)
@paginate(Mapped)
def list_administrations(request, episode: str | None = None, session: str | None = None):
    administrations = _administrations(request)
    if episode:
        administrations = administrations.filter(episode__public_id=episode)
    if session:
        administrations = administrations.filter(session__public_id=session)
    return _mapped(
        administrations.order_by("episode_id", "session__number", "instrument", "rater", "pk"),
        administration_out,
    )


def _check_instrument(code: str) -> None:
    try:
        instrument_for(code)
    except UnknownInstrumentError:
        raise ApiError(422, "unknown_instrument", f"unknown instrument {code!r}") from None


@router.post(
    "/administrations",
    response={200: schemas.AdministrationOut, 201: schemas.AdministrationOut, **ERRORS},
    tags=["administrations"],
)
def record_administration(request, payload: schemas.AdministrationIn):
    """Record a completed form (201), or answer the stored one for a repeated key (200).

    A second form for the same session, instrument and rater edits the first.
    """
    require_write(request)
    session = _session(request, payload.session)
    _check_instrument(payload.instrument)
    result = services.record_administration(
        actor(request),
        session,
        instrument=payload.instrument,
        idempotency_key=payload.idempotency_key,
        items=payload.items,
        total=payload.total,
        rater=payload.rater,
        rater_relationship=payload.rater_relationship,
        entry_mode=payload.entry_mode,
        ip=client_ip(request),
    )
    stored = _administration(request, result.administration.public_id)
    return Status(201 if result.created else 200, administration_out(stored))


@router.get(
    "/administrations/{administration_id}",
    response={200: schemas.AdministrationOut, **ERRORS},
    tags=["administrations"],
)
def get_administration(request, administration_id: str):
    return administration_out(_administration(request, administration_id))


@router.patch(
    "/administrations/{administration_id}",
    response={200: schemas.AdministrationOut, **ERRORS},
    tags=["administrations"],
)
def update_administration(request, administration_id: str, payload: schemas.AdministrationPatch):
    """Correct the items or the total (stored as an edit in the audit trail)."""
    require_write(request)
    administration = _administration(request, administration_id)
    services.record_administration(
        actor(request),
        administration.session,
        instrument=administration.instrument,
        idempotency_key=f"api-edit-{uuid.uuid4().hex}",
        items=payload.items,
        total=payload.total,
        rater=administration.rater,
        rater_relationship=administration.rater_relationship,
        entry_mode=administration.entry_mode,
        ip=client_ip(request),
    )
    return administration_out(_administration(request, administration_id))


@router.delete(
    "/administrations/{administration_id}",
    response={204: None, **ERRORS},
    tags=["administrations"],
)
def delete_administration(request, administration_id: str):
    require_write(request)
    administration = _administration(request, administration_id)
    services.undo_administration(actor(request), administration, ip=client_ip(request))
    return Status(204, None)


# --- reports ---------------------------------------------------------------------------------


ReportGrouping = Literal["quarter", "team_id", "therapist_id", "age_band"]


@router.get("/reports/effectiveness", response={200: schemas.ReportOut, **ERRORS}, tags=["reports"])
def effectiveness_report(
    request, instrument: str = "ors", by: ReportGrouping = "quarter", closed_only: bool = False
):
    """Effectiveness (``alliance.science.effectiveness``) over the episodes the user may see.

    Built by the reports app (supervisors and agency admins); ``result`` is null with an
    ``error`` when the data are too few for the indices.
    """
    from alliance.reports.data import ReportFilter
    from alliance.reports.services import effectiveness_report as build

    _check_instrument(instrument)
    if instrument_for(instrument).kind not in ("outcome", "symptom"):
        raise ApiError(422, "not_an_outcome", "choose an outcome instrument")
    try:
        report = build(
            actor(request), ReportFilter(instrument=instrument, closed_only=closed_only), by=by
        )
    except PermissionDenied:
        raise ApiError(403, "forbidden", "reports are for supervisors and agency admins") from None
    model = report.model
    return {
        "instrument": instrument,
        "by": report.by,
        "model": {
            "name": model.name,
            "provenance": model.provenance,
            "provisional": model.provisional,
        },
        "n_administrations": report.n_administrations,
        "result": json.loads(json.dumps(report.result, default=str)) if report.result else None,
        "labels": {str(k): str(v) for k, v in report.labels.items()},
        "error": str(report.error) or None,
    }


# --- imports ---------------------------------------------------------------------------------


def _import_answer(report: imports.ImportReport):
    body = report.to_dict()
    if report.dry_run:
        return Status(200, body)
    if not report.ok:
        raise ApiError(
            422,
            "import_invalid",
            f"{report.error_count} problem(s) found: nothing was imported",
            body["errors"],
        )
    return Status(201, body)


@router.post(
    "/imports",
    response={200: schemas.ImportReportOut, 201: schemas.ImportReportOut, **ERRORS},
    tags=["imports"],
)
def import_csv(request, file: File[UploadedFile], dry_run: bool = True):
    """Import an administrations CSV (docs/api.md). ``dry_run=true`` (default) only validates."""
    require_admin(request)
    if not dry_run:
        require_write(request)
    if file.size > 200 * 1024 * 1024:
        raise ApiError(413, "too_large", "the file is larger than 200 MB")
    try:
        frame = imports.read_csv(file.read())
    except imports.ImportFormatError as error:
        raise ApiError(422, "unreadable", str(error)) from None
    return _import_answer(
        imports.import_table(actor(request), request.auth.agency, frame, dry_run=dry_run)
    )


@router.post(
    "/imports/fhir",
    response={200: schemas.ImportReportOut, 201: schemas.ImportReportOut, **ERRORS},
    tags=["imports"],
)
def import_fhir(
    request, bundle: Body[dict[str, Any]], dry_run: bool = True, therapist: str | None = None
):
    """Import a FHIR Bundle of QuestionnaireResponse resources for the shipped instruments.

    ``therapist``: username for responses without an author (default: the token's user).
    """
    from . import fhir

    require_admin(request)
    if not dry_run:
        require_write(request)
    try:
        report = fhir.import_bundle(
            actor(request),
            request.auth.agency,
            bundle,
            therapist=therapist or actor(request).username,
            dry_run=dry_run,
        )
    except fhir.FhirImportError as error:
        raise ApiError(422, "invalid_fhir", str(error), error.errors) from None
    return _import_answer(report)


# --- webhooks --------------------------------------------------------------------------------


def webhook_out(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "events": endpoint.events,
        "active": endpoint.active,
        "created_at": endpoint.created_at,
    }


def delivery_out(delivery: WebhookDelivery) -> dict:
    return {
        name: getattr(delivery, name)
        for name in (
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "delivered_at",
        )
    } | {"id": delivery.public_id}


def _endpoint(request, public_id: str) -> WebhookEndpoint:
    require_admin(request)
    endpoint = WebhookEndpoint.objects.filter(
        agency_id=request.auth.agency_id, public_id=public_id
    ).first()
    if endpoint is None:
        raise Http404
    return endpoint


@router.get("/webhooks", response={200: list[schemas.WebhookOut], **ERRORS}, tags=["webhooks"])
@paginate(Mapped)
def list_webhooks(request):
    require_admin(request)
    endpoints = WebhookEndpoint.objects.filter(agency_id=request.auth.agency_id)
    return _mapped(endpoints.order_by("created_at", "pk"), webhook_out)


@router.post("/webhooks", response={201: schemas.WebhookCreated, **ERRORS}, tags=["webhooks"])
def create_webhook(request, payload: schemas.WebhookIn):
    require_admin(request)
    require_write(request)
    endpoint = api_services.create_webhook_endpoint(
        actor(request), request.auth.agency, url=payload.url, events=payload.events
    )
    return Status(201, webhook_out(endpoint) | {"secret": endpoint.secret})


@router.delete("/webhooks/{webhook_id}", response={204: None, **ERRORS}, tags=["webhooks"])
def delete_webhook(request, webhook_id: str):
    endpoint = _endpoint(request, webhook_id)
    require_write(request)
    api_services.delete_webhook_endpoint(actor(request), endpoint)
    return Status(204, None)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response={200: list[schemas.DeliveryOut], **ERRORS},
    tags=["webhooks"],
)
@paginate(Mapped)
def list_deliveries(request, webhook_id: str):
    """The delivery log of an endpoint, newest first."""
    endpoint = _endpoint(request, webhook_id)
    return _mapped(endpoint.deliveries.order_by("-created_at", "-pk"), delivery_out)


api.add_router("/", router)
