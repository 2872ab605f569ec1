"""Request and response shapes of the REST API (pydantic, via django-ninja)."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from ninja import Field, Schema

from .parsing import ISODate


class Error(Schema):
    code: str = Field(description="stable machine-readable error code")
    message: str
    errors: list[dict[str, Any]] | None = None


LANGUAGE_HELP = (
    'language of the client\'s own forms (links, kiosk): "en" or "es"; "" for the language of '
    "the staff member who makes each link"
)


class ClientOut(Schema):
    id: str
    display_code: str
    name: str
    birth_year: int | None
    age_band: str
    therapist: str = Field(description="username of the client's therapist")
    team: str | None
    language: str = Field(description=LANGUAGE_HELP)
    created_at: datetime.datetime


AgeBandIn = Literal["young_child", "child", "adolescent", "adult"]


class ClientIn(Schema):
    display_code: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9._-]+$")
    therapist: str | None = Field(None, description="username; default: the token's user")
    age_band: AgeBandIn = "adult"
    birth_year: int | None = Field(None, ge=1900, le=2100)
    name: str = Field("", max_length=200)
    team: str | None = Field(None, max_length=200, description="team name")
    start_date: ISODate | None = None
    outcome_instrument: str | None = Field(None, max_length=20)
    alliance_instrument: str | None = Field(None, max_length=20)
    language: str = Field("", max_length=10, description=LANGUAGE_HELP)


class ClientPatch(Schema):
    name: str | None = Field(None, max_length=200)
    birth_year: int | None = Field(None, ge=1900, le=2100)
    age_band: AgeBandIn | None = None
    language: str | None = Field(None, max_length=10, description=LANGUAGE_HELP)


class EpisodeOut(Schema):
    id: str
    client: str
    start_date: datetime.date
    end_date: datetime.date | None
    ending: str
    outcome_instrument: str
    alliance_instrument: str
    session_count: int
    last_session_date: datetime.date | None
    intake_total: float | None
    last_outcome_total: float | None
    zone: str
    last_alliance_total: float | None
    alliance_flag: str


class EpisodeClose(Schema):
    ending: Literal["planned", "unilateral"]
    on: ISODate | None = None


class SessionOut(Schema):
    id: str
    episode: str
    number: int
    date: datetime.date
    attendance: str = Field(description="attended, cancelled or no_show")
    kind: str = Field(description="individual, or group (a GSRS group session, not counted)")


class SessionIn(Schema):
    client: str = Field(description="client id")
    date: ISODate | None = None
    attendance: Literal["attended", "cancelled", "no_show"] = "attended"


class SessionPatch(Schema):
    attendance: Literal["attended", "cancelled", "no_show"]


class AdministrationOut(Schema):
    id: str
    episode: str
    session: str
    session_number: int
    instrument: str
    rater: str
    items: dict[str, float]
    total: float
    total_only: bool
    entry_mode: str
    created_at: datetime.datetime
    updated_at: datetime.datetime


class AdministrationIn(Schema):
    session: str = Field(description="session id")
    instrument: str = Field(min_length=1, max_length=20)
    idempotency_key: str = Field(min_length=1, max_length=64)
    items: dict[str, float] | None = None
    total: float | None = None
    rater: str = Field("client", min_length=1, max_length=30)
    rater_relationship: str = Field("", max_length=100)
    # "link" and "import" are set by the system (a client's link, a bulk import), never sent.
    entry_mode: Literal["in_session", "paper", "phone"] = "in_session"


class AdministrationPatch(Schema):
    items: dict[str, float] | None = None
    total: float | None = None


class ColourOut(Schema):
    session_number: int
    colour: str


class AlertOut(Schema):
    code: str
    session_number: int
    severity: str
    reason: str


class TrajectoryOut(Schema):
    model: str
    provenance: str
    provisional: bool
    intake: float
    sessions: list[int]
    target: list[float]
    negative: list[float]
    success_probability: float | None


class SignalsOut(Schema):
    episode: str
    outcome: list[list[float]] = Field(description="[session number, total] pairs")
    colours: list[ColourOut]
    alliance_colours: list[ColourOut]
    latest_colour: str | None
    latest_alliance_colour: str | None
    alerts: list[AlertOut]
    etr: TrajectoryOut | None


class ModelOut(Schema):
    name: str
    provenance: str
    provisional: bool


class ReportOut(Schema):
    instrument: str
    by: str
    model: ModelOut | None = Field(description="null: no ETR model for this instrument")
    n_administrations: int
    result: dict[str, Any] | None = Field(description="docs/effectiveness.md: overall, groups")
    labels: dict[str, str] = Field(description="group key -> display label")
    error: str | None


class SlopeOut(Schema):
    estimate: float | None
    low: float | None = Field(description="95% interval")
    high: float | None
    p_value: float | None


class AllianceOutcomeResultOut(Schema):
    between: SlopeOut = Field(
        description="outcome points per point of the therapist's mean alliance"
    )
    within: SlopeOut = Field(description="per point of the client's deviation from that mean")
    contextual: SlopeOut = Field(description="between minus within")
    intake: SlopeOut
    var_therapist: float | None
    var_residual: float | None
    n_episodes: int
    n_therapists: int
    n_single_client_therapists: int
    excluded: dict[str, int]
    first_k: int
    outcome: str
    mean_alliance: float | None
    sd_therapist_alliance: float | None
    converged: bool
    reading: list[str]


class AllianceOutcomeOut(Schema):
    instrument: str
    alliance_instrument: str | None
    result: AllianceOutcomeResultOut | None = Field(
        description="docs/therapist-development.md; null with an error when the data are too few"
    )
    error: str | None


class RowErrorOut(Schema):
    row: int
    column: str
    message: str


class ImportCounts(Schema):
    clients: int
    episodes: int
    sessions: int
    administrations: int


class ImportReportOut(Schema):
    dry_run: bool
    committed: bool
    rows: int
    created: ImportCounts
    unchanged: int
    error_count: int
    errors: list[RowErrorOut]


class WebhookIn(Schema):
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://[^\s]+$")
    events: list[Literal["administration.recorded", "alert.raised"]] | None = None


class WebhookOut(Schema):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime.datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="shown once (whsec_...): verify the Standard Webhooks webhook-signature with it"
    )


class DeliveryOut(Schema):
    id: str
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime.datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime.datetime
    delivered_at: datetime.datetime | None


class MeOut(Schema):
    username: str
    agency: str
    role: str
    token_prefix: str
    token_kind: str
    scope: str
    expires_at: datetime.datetime | None
