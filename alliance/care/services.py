"""Business actions on care records. Each is one transaction and writes an audit event."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.dispatch import Signal
from django.tasks import task
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alliance.accounts.models import Agency, Role, Team
from alliance.accounts.permissions import has_role
from alliance.audit.models import AuditEvent
from alliance.audit.services import record, record_many, redact
from alliance.science.instruments import ResponseError, ScoredResponse, UnknownInstrumentError
from alliance.science.instruments.age_bands import DEFAULT_AGE_BAND, default_forms
from alliance.science.signals import SAFETY_CODE

from . import dates, summary
from .feedback import (
    EpisodeFeedback,
    episode_feedback,
    instrument_for,
)
from .models import (
    ATTENDANCE_NOT_SET,
    SAME_AS_STAFF,
    Administration,
    AgeBand,
    Alert,
    Attendance,
    Client,
    ClientShare,
    Ending,
    EntryMode,
    Episode,
    IdempotencyKey,
    Rater,
    Session,
    SessionKind,
    form_languages,
)

__all__ = [
    "SAFETY_CODE",
    "AlreadyRatedError",
    "episode_feedback",
    "RecordResult",
    "acknowledge_alert",
    "can_acknowledge",
    "ResponseError",
    "ServiceError",
    "close_episode",
    "reopen_deadline",
    "reopen_episode",
    "start_episode",
    "create_client",
    "follow_up_rating",
    "record_administration",
    "refresh_episode_summary",
    "refresh_open_episodes",
    "set_attendance",
    "set_raters",
    "share_client",
    "start_group_session",
    "start_session",
    "undo_administration",
]


logger = logging.getLogger(__name__)
# Re-exported: the API app connects to it here, beside ``administration_recorded``.
alerts_raised = summary.alerts_raised

# Group sessions: each member rates the group on the GSRS, stored in the member's own episode.
GROUP_FORM = "gsrs"


class ServiceError(ValueError):
    """A business rule was broken; the message is meant for the user."""


class DuplicateError(ServiceError):
    """The record exists already (a unique constraint said so, even in a race)."""


class AlreadyRatedError(DuplicateError):
    """The form was filled in already for this session and rater; replacing it must be asked for.

    ``administration`` is the stored rating (its total is shown, so nobody re-enters blindly).
    """

    def __init__(self, message: str, administration: Administration) -> None:
        super().__init__(message)
        self.administration = administration


# Sent inside the writing transaction (the API app stores webhook deliveries for them, which so
# commit with the rating or not at all): administration= a rating stored or edited; alerts=[...]
# (``summary.alerts_raised``) the alerts one refresh raised.
administration_recorded = Signal()
# Sent inside an erasure's transaction, before the client's rows go (client=). Each receiver
# removes or redacts what its app holds about the client outside the rows that cascade
# (webhook deliveries, queued messages, task rows) and answers {what: count}; an answer may add
# "audit_targets": [(target type, id), ...] whose audit events lose their details too.
client_erasing = Signal()


@dataclass(frozen=True)
class RecordResult:
    administration: Administration
    created: bool
    # For a repeated idempotency key: what that key's save stored (items, total, total_only,
    # entry_mode), which a later edit may since have changed; None for a new save.
    replayed: Mapping[str, object] | None = None
    # The raters who have filled in this form in this session, when the save learnt it on the
    # way (the quick path on PostgreSQL); None when not known.
    form_raters: frozenset[str] | None = None


def audit(
    agency: Agency | int, actor, action: str, target, ip: str | None = None, **detail: object
) -> None:
    """Append to the hash-chained audit trail (alliance.audit) in the caller's transaction."""
    record(actor, agency, action, target, ip, detail)


def today() -> datetime.date:
    return timezone.localdate()


# The agency's name policy, checked by every path that can store a name (web, API, import).
NAMES_REFUSED = gettext_lazy("This agency keeps pseudonymous codes only: leave the name empty.")


@transaction.atomic
def create_client(
    actor,
    agency: Agency,
    *,
    display_code: str,
    therapist,
    age_band: str = DEFAULT_AGE_BAND,
    birth_year: int | None = None,
    name: str = "",
    team: Team | None = None,
    start_date: datetime.date | None = None,
    outcome_instrument: str | None = None,
    alliance_instrument: str | None = None,
    raters: Sequence[str] = (),
    language: str = "",
    ip: str | None = None,
) -> Client:
    """Create a client with an open episode.

    ``language``: the language of the client's own forms (links, kiosk); "" for the language of
    the staff member who makes each link or kiosk pass.

    The forms default to those of the age band (CORS/CSRS for children, YCORS/YCSRS for young
    children, ORS/SRS otherwise). An outcome instrument without an ETR model is allowed: its
    episodes show scores and cutoffs but no expected-response lines.
    """
    if therapist.agency_membership is None or therapist.membership.agency_id != agency.pk:
        raise ServiceError(_("The therapist does not belong to this agency."))
    if team is not None and team.agency_id != agency.pk:
        raise ServiceError(_("The team belongs to another agency."))
    _check_date(start_date)
    _check_birth_year(birth_year, age_band)
    name = (name or "").strip()
    if name and not agency.allow_client_names:
        raise ServiceError(str(NAMES_REFUSED))
    display_code = (display_code or "").strip() or new_client_code(agency)
    default_outcome, default_alliance = agency_forms(agency, age_band)
    outcome_instrument = outcome_instrument or default_outcome
    alliance_instrument = alliance_instrument or default_alliance
    _check_instruments(outcome_instrument, alliance_instrument)
    raters = _clean_raters(raters)
    _check_language(language)
    try:
        with transaction.atomic():  # the unique constraint decides, so a race answers the same
            client = Client.objects.create(
                agency=agency,
                display_code=display_code,
                name=name,
                birth_year=birth_year,
                age_band=age_band,
                therapist=therapist,
                team=team,
                language=language,
            )
    except IntegrityError:
        raise DuplicateError(_("There is already a client with this display code.")) from None
    episode = Episode.objects.create(
        agency=agency,
        client=client,
        start_date=start_date or today(),
        outcome_instrument=outcome_instrument,
        alliance_instrument=alliance_instrument,
        raters=raters,
    )
    audit(agency, actor, "client.created", client, ip, episode=episode.public_id)
    return client


def agency_forms(agency: Agency | None, age_band: str) -> tuple[str, str]:
    """(outcome, alliance) forms a new episode of this age band fills in at this agency: the
    agency's choice on its Policies page (``Agency.instruments``), else the band's default."""
    outcome, alliance = default_forms(age_band)
    chosen = (getattr(agency, "instruments", None) or {}).get(age_band) or {}
    return chosen.get("outcome") or outcome, chosen.get("alliance") or alliance


def _check_language(language: str) -> None:
    if language and language not in {code for code, _name in form_languages()}:
        raise ServiceError(_("Choose a language from the list."))


def _check_date(value: datetime.date | None) -> None:
    problem = dates.date_problem(value, today())
    if problem:
        raise ServiceError(problem)


def _check_birth_year(year: int | None, band: str | None) -> None:
    problem = dates.birth_year_problem(year, band, today())
    if problem:
        raise ServiceError(problem)


def _check_instruments(outcome: str, alliance: str) -> None:
    try:
        outcome_kind = instrument_for(outcome).kind
        alliance_kind = instrument_for(alliance).kind
    except UnknownInstrumentError:
        raise ServiceError(_("Unknown instrument.")) from None
    if outcome_kind == "alliance" or alliance_kind != "alliance":
        raise ServiceError(_("Choose an outcome form and a session (alliance) form."))


def _clean_raters(raters: Sequence[str]) -> list[str]:
    """Collateral raters besides the client, each once, in the order given."""
    cleaned: list[str] = []
    for rater in raters:
        if rater not in Rater.values:
            raise ServiceError(_("Unknown rater %(rater)r.") % {"rater": rater})
        if rater != Rater.CLIENT and rater not in cleaned:
            cleaned.append(rater)
    return cleaned


@transaction.atomic
def set_raters(actor, episode: Episode, raters: Sequence[str], *, ip: str | None = None) -> Episode:
    """The raters besides the client who rate this episode (couples, families, collaterals)."""
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    before = list(episode.raters)
    episode.raters = _clean_raters(raters)
    episode.save(update_fields=["raters"])
    audit(episode.agency, actor, "episode.raters", episode, ip, before=before, after=episode.raters)
    return episode


@transaction.atomic
def share_client(actor, client: Client, colleague, *, ip: str | None = None) -> ClientShare:
    """Share a client with another therapist or supervisor of the same agency."""
    membership = colleague.agency_membership
    if membership is None or membership.agency_id != client.agency_id:
        raise ServiceError(_("That colleague is not in this agency."))
    if colleague.pk == client.therapist_id:
        raise ServiceError(_("This is the client's own therapist."))
    share, created = ClientShare.objects.get_or_create(
        agency_id=client.agency_id, client=client, user=colleague
    )
    if created:
        audit(client.agency, actor, "client.shared", client, ip, colleague=colleague.public_id)
    return share


@transaction.atomic
def update_client(actor, client: Client, *, ip: str | None = None, **changes: object) -> Client:
    """Change a client's name, birth year, age band or the language of their forms (the REST
    API's PATCH; the client page changes the language)."""
    allowed = {"name", "birth_year", "age_band", "language"}
    unknown = set(changes) - allowed
    if unknown:
        raise ServiceError(f"cannot change {', '.join(sorted(unknown))}")
    if "age_band" in changes and changes["age_band"] not in AgeBand.values:
        raise ServiceError(f"unknown age band {changes['age_band']!r}")
    if "language" in changes:
        language = str(changes["language"] or "")
        _check_language(language)
        changes["language"] = language
    if "name" in changes:
        changes["name"] = str(changes["name"] or "").strip()
        if changes["name"] and not client.agency.allow_client_names:
            raise ServiceError(str(NAMES_REFUSED))
    client = Client.objects.select_for_update().get(pk=client.pk)
    if "birth_year" in changes or "age_band" in changes:
        _check_birth_year(
            cast(int | None, changes.get("birth_year", client.birth_year)),
            cast(str, changes.get("age_band", client.age_band)),
        )
    for name, value in changes.items():
        setattr(client, name, value)
    client.save(update_fields=list(changes))
    audit(client.agency, actor, "client.updated", client, ip, fields=sorted(changes))
    return client


def open_episode(client: Client) -> Episode:
    episode = client.episodes.open().current()
    if episode is None:
        raise ServiceError(_("This client has no open episode."))
    return episode


@transaction.atomic
def start_session(
    actor,
    client: Client,
    *,
    on: datetime.date | None = None,
    attendance: str | None = None,
    ip: str | None = None,
) -> Session:
    """Today's session of the client's open episode (the existing one if already started).

    Without ``attendance`` the session is only started: it counts nowhere (not in the session
    count, not as the last session) until a rating is recorded or the attendance is set. A
    started session left empty is reused by the next start (moved to its date), so leaving
    the session page without recording anything leaves no session behind.
    """
    _check_date(on)
    on = on or today()
    if attendance is not None and attendance not in Attendance.values:
        raise ServiceError(_("Unknown attendance %(value)r.") % {"value": attendance})
    episode = Episode.objects.select_for_update().get(pk=open_episode(client).pk)
    individual = episode.sessions.filter(kind=SessionKind.INDIVIDUAL)
    existing = individual.filter(date=on).order_by("-number").first()
    if existing is None:
        existing = (
            individual.filter(attendance=ATTENDANCE_NOT_SET, administrations__isnull=True)
            .order_by("-number")
            .first()
        )
        if existing is not None and existing.number != _last_number(individual):
            existing = None  # only the latest session may move, so the numbers keep their order
        if existing is not None:
            existing.date = on
            existing.save(update_fields=["date"])
    if existing is not None:
        if attendance is not None and existing.attendance == ATTENDANCE_NOT_SET:
            _mark_attendance(actor, episode, existing, attendance, ip)
            refresh_episode_summary(episode)
        return existing
    session = Session.objects.create(
        agency_id=episode.agency_id,
        episode=episode,
        number=_last_number(individual) + 1,
        date=on,
        attendance=ATTENDANCE_NOT_SET if attendance is None else attendance,
    )
    audit(
        episode.agency,
        actor,
        "session.started",
        session,
        ip,
        episode=episode.public_id,
        number=session.number,
    )
    refresh_episode_summary(episode)
    return session


# Hand-over: the therapist gives the device to the client for one scale at a time; the
# browser session stays locked on the client's form until the therapist re-authenticates
# (alliance.care.handover keeps the state and the lock). Starting and ending are audited.
HANDOVER_MAX_FAILURES = 5


def start_handover(
    actor, session: Session, instruments: Sequence[str], *, ip: str | None = None
) -> None:
    """Check that the client may fill in these forms now, and audit the start."""
    episode = session.episode
    if episode.end_date is not None:
        raise ServiceError(_("This episode is closed."))
    in_use = (episode.outcome_instrument, episode.alliance_instrument)
    if not instruments or any(code not in in_use for code in instruments):
        raise ServiceError(_("Choose the form to hand over."))
    if Administration.objects.filter(
        agency_id=session.agency_id, session=session, rater="client", instrument__in=instruments
    ).exists():
        raise ServiceError(_("The client has already filled in this form in this session."))
    audit(
        session.agency_id,
        actor,
        "handover.started",
        session,
        ip,
        number=session.number,
        instruments=list(instruments),
    )


def end_handover(
    actor, agency_id: int, session_id: str, *, method: str, ip: str | None = None
) -> None:
    """The therapist took the device back after re-authenticating (method: pin or password)."""
    audit(agency_id, actor, "handover.ended", ("session", session_id), ip, method=method)


def handover_reauth_failed(
    actor, agency_id: int, session_id: str, *, failures: int, ip: str | None = None
) -> bool:
    """Audit a wrong PIN or password; True once the failures reach the limit (sign out)."""
    target = ("session", session_id)
    audit(agency_id, actor, "handover.reauth_failed", target, ip, failures=failures)
    if failures < HANDOVER_MAX_FAILURES:
        return False
    audit(agency_id, actor, "handover.signed_out", target, ip, failures=failures)
    return True


def _last_number(sessions) -> int:
    return sessions.aggregate(last=Max("number"))["last"] or 0


def _mark_attendance(actor, episode: Episode, session: Session, attendance: str, ip) -> None:
    before = session.attendance
    session.attendance = attendance
    session.save(update_fields=["attendance"])
    audit(episode.agency, actor, "session.attendance", session, ip, before=before, after=attendance)


@transaction.atomic
def start_group_session(
    actor, client: Client, *, on: datetime.date, ip: str | None = None
) -> Session:
    """The group session of a day in a member's open episode (for the member's GSRS).

    Numbered apart from the individual sessions and never counted among them: a group session
    adds nothing to the member's session count, last session date or outcome graph.
    """
    episode = Episode.objects.select_for_update().get(pk=open_episode(client).pk)
    group = episode.sessions.filter(kind=SessionKind.GROUP)
    existing = group.filter(date=on).order_by("-number").first()
    if existing is not None:
        return existing
    session = Session.objects.create(
        agency_id=episode.agency_id,
        episode=episode,
        number=_last_number(group) + 1,
        date=on,
        kind=SessionKind.GROUP,
    )
    audit(
        episode.agency,
        actor,
        "session.group_started",
        session,
        ip,
        episode=episode.public_id,
        number=session.number,
    )
    return session


@transaction.atomic
def set_attendance(actor, session: Session, attendance: str, *, ip: str | None = None) -> Session:
    """Mark a session attended, cancelled or a no-show (only attended sessions count)."""
    if attendance not in Attendance.values:
        raise ServiceError(_("Unknown attendance %(value)r.") % {"value": attendance})
    episode = Episode.objects.select_for_update().get(pk=session.episode_id)
    if not episode.is_open:
        raise ServiceError(_("This episode is closed."))
    _mark_attendance(actor, episode, session, attendance, ip)
    refresh_episode_summary(episode)
    return session


def _score(
    instrument_code: str, items: Mapping[str, object] | None, total: object | None
) -> ScoredResponse:
    instrument = instrument_for(instrument_code)
    if items:
        return instrument.score(items)
    if total is not None and total != "":
        return instrument.score_total(total)
    raise ServiceError(_("Enter the item scores or the total."))


def record_administration(
    actor,
    session: Session,
    *,
    instrument: str,
    idempotency_key: str,
    items: Mapping[str, object] | None = None,
    total: object | None = None,
    rater: str = "client",
    rater_relationship: str = "",
    entry_mode: str = EntryMode.IN_SESSION,
    replace: bool = False,
    ip: str | None = None,
) -> RecordResult:
    """Score and store one administration; a repeated idempotency key stores nothing new.

    Raises ResponseError (naming the item) for invalid scores, ServiceError for broken rules;
    in both cases nothing is stored. A rating never replaces another silently: when the rater
    has filled in this form in this session already, AlreadyRatedError is raised unless
    ``replace`` asks for an edit (audited as ``administration.edited`` with before and after).
    A total without items is stored as a total only: the items stay empty.
    """
    if not idempotency_key:
        raise ServiceError(_("The form is out of date: reload the page and try again."))
    episode = session.episode
    if session.kind == SessionKind.GROUP:
        in_use: tuple[str, ...] = (GROUP_FORM,)
    else:
        in_use = (episode.outcome_instrument, episode.alliance_instrument)
    if instrument not in in_use:
        raise ServiceError(_("This form is not in use for this client."))
    if entry_mode not in EntryMode.values:
        raise ServiceError(_("Unknown entry mode %(value)r.") % {"value": entry_mode})
    if not rater:
        raise ServiceError(_("The rater is missing."))
    scored = _score(instrument, items, total)
    arguments = (
        actor,
        session,
        instrument,
        idempotency_key,
        scored,
        rater,
        rater_relationship,
        entry_mode,
        replace,
        ip,
    )
    try:
        return _store_administration(*arguments)
    except IntegrityError:
        # Two identical submissions raced: the other one stored it; answer with its result.
        stored = _stored_key(session.agency_id, idempotency_key)
        if stored is not None:
            return stored
        # Another save of the same form committed while this one waited for the episode (the
        # quick path's checks had not seen it): decide again, now that it is visible (an
        # AlreadyRatedError, or an edit when replacing).
        return _store_administration(*arguments, careful=True)


def _result_of(administration: Administration) -> dict[str, object]:
    return {
        "items": administration.items,
        "total": administration.total,
        "total_only": administration.total_only,
        "entry_mode": administration.entry_mode,
    }


def _stored_key(agency_id: int, idempotency_key: str) -> RecordResult | None:
    """The stored answer for a key seen before (any key a save used, not only the row's last)."""
    remembered = (
        IdempotencyKey.objects.filter(agency_id=agency_id, key=idempotency_key)
        .select_related("administration")
        .first()
    )
    if remembered is not None:
        return RecordResult(remembered.administration, False, remembered.result)
    # Rows written without a remembered key (imports, rows saved before keys were kept).
    row = Administration.objects.filter(agency_id=agency_id, idempotency_key=idempotency_key)
    administration = row.first()
    if administration is None:
        return None
    return RecordResult(administration, False, _result_of(administration))


@transaction.atomic
def _store_administration(
    actor,
    session: Session,
    instrument: str,
    idempotency_key: str,
    scored: ScoredResponse,
    rater: str,
    rater_relationship: str,
    entry_mode: str,
    replace: bool,
    ip: str | None,
    careful: bool = False,
) -> RecordResult:
    if not careful and connection.vendor == "postgresql":
        stored = _store_new_rating(
            actor, session, instrument, idempotency_key, scored, rater, rater_relationship,
            entry_mode, ip,
        )  # fmt: skip
        if stored is not None:
            return stored
    # Lock the episode so concurrent saves of one episode serialise and the summary stays right.
    episode = Episode.objects.select_for_update().get(pk=session.episode_id)
    if not episode.is_open:
        raise ServiceError(_("This episode is closed."))
    # A key seen before is a retry: answer what that key stored, whatever came after it.
    duplicate = _stored_key(episode.agency_id, idempotency_key)
    if duplicate is not None:
        return duplicate
    # Has this rater filled in this form in this session before (then this save is an edit)?
    existing = Administration.objects.filter(
        agency_id=episode.agency_id, session=session, instrument=instrument, rater=rater
    ).first()
    if existing is not None and not replace:
        raise AlreadyRatedError(
            _(
                "This form was already filled in for this session (total %(total)s). "
                "To change it, choose to replace the saved rating."
            )
            % {"total": f"{existing.total:g}"},
            existing,
        )
    values = {
        "items": scored.items,
        "total": scored.total,
        "total_only": scored.total_only,
        "entry_mode": entry_mode,
        "rater_relationship": rater_relationship,
        "idempotency_key": idempotency_key,
        "entered_by": actor if getattr(actor, "is_authenticated", False) else None,
    }
    if existing is not None:
        before = {
            "items": existing.items,
            "total": existing.total,
            "entry_mode": existing.entry_mode,
        }
        for field, value in values.items():
            setattr(existing, field, value)
        existing.save()
        administration = existing
        event: tuple[str, dict[str, object]] = (
            "administration.edited",
            {
                "before": before,
                "after": {"items": scored.items, "total": scored.total, "entry_mode": entry_mode},
            },
        )
    else:
        administration = Administration.objects.create(
            agency_id=episode.agency_id,
            episode=episode,
            session=session,
            instrument=instrument,
            rater=rater,
            **values,
        )
        event = (
            "administration.recorded",
            {
                "session": session.number,
                "instrument": instrument,
                "rater": rater,
                "items": scored.items,
                "total": scored.total,
                "entry_mode": entry_mode,
            },
        )
    IdempotencyKey.objects.create(
        agency_id=episode.agency_id,
        key=idempotency_key,
        administration=administration,
        result=_result_of(administration),
    )
    # A rating makes a started session real: it was attended.
    if Session.objects.filter(pk=session.pk, attendance=ATTENDANCE_NOT_SET).update(
        attendance=Attendance.ATTENDED
    ):
        session.attendance = Attendance.ATTENDED
        audit(
            episode.agency,
            actor,
            "session.attendance",
            session,
            ip,
            before=ATTENDANCE_NOT_SET,
            after=Attendance.ATTENDED,
        )
    _follow_up_now(administration)
    # Last in the transaction: the lock on the audit chain (lane) is then held only until commit.
    audit(episode.agency_id, actor, event[0], administration, ip, **event[1])
    return RecordResult(administration, existing is None)


# The quick path of a new rating on PostgreSQL (issue 16): the same rules and rows as the
# careful path below it, in one statement instead of eight. ``checked`` locks the episode and
# answers every question the careful path asks one query at a time; the rating, the answer
# remembered for its key and the session marked attended (a rating makes a started session real)
# are written only when it is a new rating of an open episode. Anything else (a closed episode,
# a key seen before, a form already filled in) writes nothing and goes the careful way.
# The checks' subqueries see the database as it was when the statement started: a save of the
# same form that committed while this one waited for the lock is caught by the unique
# constraints (IntegrityError), and record_administration then decides again, carefully.
# ``raters``: who had filled in this form in this session (the page moves on to one who has not).
_NEW_RATING = """
WITH checked AS (
    SELECT e.end_date,
           EXISTS (SELECT 1 FROM care_idempotencykey k
                   WHERE k.agency_id = e.agency_id AND k.key = %s)
           OR EXISTS (SELECT 1 FROM care_administration a
                      WHERE a.agency_id = e.agency_id AND a.idempotency_key = %s) AS key_seen,
           ARRAY(SELECT a.rater FROM care_administration a
                 WHERE a.agency_id = e.agency_id AND a.session_id = %s AND a.instrument = %s)
           AS raters
    FROM care_episode e WHERE e.id = %s FOR UPDATE
), administration AS (
    INSERT INTO care_administration (agency_id, public_id, episode_id, session_id, instrument,
        rater, rater_relationship, items, total, total_only, entry_mode, idempotency_key,
        entered_by_id, created_at, updated_at)
    SELECT %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s FROM checked
    WHERE checked.end_date IS NULL AND NOT checked.key_seen AND NOT %s = ANY (checked.raters)
    RETURNING id
), remembered AS (
    INSERT INTO care_idempotencykey (agency_id, key, administration_id, result, created_at)
    SELECT %s, %s, id, %s::jsonb, %s FROM administration
), attended AS (
    UPDATE care_session SET attendance = %s
    WHERE id = %s AND attendance = %s AND EXISTS (SELECT 1 FROM administration) RETURNING id
)
SELECT checked.end_date, checked.key_seen, checked.raters, (SELECT id FROM administration),
       EXISTS (SELECT 1 FROM attended)
FROM checked
"""


def _store_new_rating(
    actor,
    session: Session,
    instrument: str,
    idempotency_key: str,
    scored: ScoredResponse,
    rater: str,
    rater_relationship: str,
    entry_mode: str,
    ip: str | None,
) -> RecordResult | None:
    """Store a new rating the quick way (in the caller's transaction); None when it is not one.

    Raises ServiceError for a closed episode, IntegrityError when a concurrent save won.
    """
    agency_id = session.agency_id
    now = timezone.now()
    administration = Administration(
        agency_id=agency_id,
        episode_id=session.episode_id,
        session=session,
        instrument=instrument,
        rater=rater,
        rater_relationship=rater_relationship,
        items=scored.items,
        total=scored.total,
        total_only=scored.total_only,
        entry_mode=entry_mode,
        idempotency_key=idempotency_key,
        entered_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_at=now,
        updated_at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _NEW_RATING,
            [
                # checked
                idempotency_key,
                idempotency_key,
                session.pk,
                instrument,
                session.episode_id,
                # administration
                agency_id,
                administration.public_id,
                session.episode_id,
                session.pk,
                instrument,
                rater,
                rater_relationship,
                json.dumps(administration.items),
                administration.total,
                administration.total_only,
                entry_mode,
                idempotency_key,
                administration.entered_by_id,
                now,
                now,
                rater,
                # remembered
                agency_id,
                idempotency_key,
                json.dumps(_result_of(administration)),
                now,
                # attended
                Attendance.ATTENDED,
                session.pk,
                ATTENDANCE_NOT_SET,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        raise Episode.DoesNotExist("the session's episode was removed")
    end_date, key_seen, raters, administration.pk, attended = row
    if end_date is not None:
        raise ServiceError(_("This episode is closed."))
    if key_seen or rater in raters:  # nothing was written: not a new rating
        return None
    administration._state.adding = False
    administration._state.db = connection.alias
    events: list[tuple[str, object, Mapping[str, object] | None]] = []
    if attended:
        session.attendance = Attendance.ATTENDED
        events.append(
            (
                "session.attendance",
                session,
                {"before": ATTENDANCE_NOT_SET, "after": Attendance.ATTENDED},
            )
        )
    events.append(
        (
            "administration.recorded",
            administration,
            {
                "session": session.number,
                "instrument": instrument,
                "rater": rater,
                "items": scored.items,
                "total": scored.total,
                "entry_mode": entry_mode,
            },
        )
    )
    _follow_up_now(administration)
    # Last in the transaction: the lock on the audit chain (lane) is then held only until commit.
    record_many(actor, agency_id, events, ip)
    return RecordResult(administration, True, form_raters=frozenset((*raters, rater)))


def _follow_up_now(administration: Administration) -> None:
    """A new or edited rating's follow-up, in the request that stores it: the episode's summary
    and alerts (``summary.refresh``), then ``administration_recorded``, so that the caseload is
    right when the page moves on, with or without a task worker.

    In a savepoint of its own: should it fail (a bug, a model file that cannot be read), the
    rating is still stored, the failure is logged and the follow-up goes to the task queue,
    where the worker retries it. With the immediate backend that retry runs here and now.
    """
    try:
        with transaction.atomic():
            summary.refresh(administration.episode_id)
            administration_recorded.send(sender=Administration, administration=administration)
    except Exception as error:  # noqa: BLE001 - whatever failed, the rating must be kept
        # The kind of failure only: a message may quote scores, and logs carry no clinical
        # data (alliance.ops.logging). The worker's retry keeps the traceback in its task row.
        logger.error(
            "the follow-up of a rating failed (%s); it is queued for the worker",
            type(error).__name__,
        )
        follow_up_rating.enqueue(administration.episode_id, administration.pk)


@task
def follow_up_rating(
    episode_id: int, administration_id: int | None = None, *more_administration_ids: int
) -> bool:
    """A rating's follow-up as a task: ``_follow_up_now`` queues it when the follow-up failed in
    the request; rows queued by earlier versions (which ran every follow-up here, some for
    several ratings of an episode) run the same way.

    Idempotent (the summary is recomputed from all stored scores), so a task that runs twice or
    late does no harm. False when the episode was erased meanwhile.
    """
    wanted = [pk for pk in (administration_id, *more_administration_ids) if pk]
    with transaction.atomic():
        if summary.refresh(episode_id) is None:
            return False
        found = Administration.objects.in_bulk(wanted)
        for pk in wanted:
            if pk in found:  # not when undone meanwhile
                administration_recorded.send(sender=Administration, administration=found[pk])
    return True


@transaction.atomic
def undo_administration(
    actor, administration: Administration, *, ip: str | None = None
) -> EpisodeFeedback:
    """Remove an administration saved in a session; the audit trail keeps what it was."""
    episode = Episode.objects.select_for_update().get(pk=administration.episode_id)
    if not episode.is_open:
        raise ServiceError(_("This episode is closed."))
    audit(
        episode.agency,
        actor,
        "administration.undone",
        administration,
        ip,
        session=administration.session.number,
        instrument=administration.instrument,
        rater=administration.rater,
        items=administration.items,
        total=administration.total,
    )
    administration.delete()
    return refresh_episode_summary(episode)


@transaction.atomic
def close_episode(
    actor, episode: Episode, ending: str, *, on: datetime.date | None = None, ip: str | None = None
) -> Episode:
    if ending not in Ending.values:
        raise ServiceError(
            _("Unknown ending %(value)r (expected planned or unilateral).") % {"value": ending}
        )
    _check_date(on)
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    if not episode.is_open:
        raise ServiceError(_("This episode is already closed."))
    last_date = episode.last_session_date or episode.start_date
    episode.end_date = max(on or today(), last_date, episode.start_date)
    episode.ending = ending
    episode.save(update_fields=["end_date", "ending"])
    audit(episode.agency, actor, "episode.closed", episode, ip, ending=ending)
    return episode


def reopen_deadline(episode: Episode) -> datetime.date | None:
    """The last day a closed episode may be reopened (the agency's window), None while open."""
    if episode.end_date is None:
        return None
    return episode.end_date + datetime.timedelta(days=episode.agency.reopen_days)


@transaction.atomic
def reopen_episode(
    actor, episode: Episode, *, on: datetime.date | None = None, ip: str | None = None
) -> Episode:
    """Reopen the client's latest episode within the agency's window (a mistaken or early close).

    Past the window the therapist starts a new episode instead (``start_episode``).
    """
    Client.objects.select_for_update().get(pk=episode.client_id)  # one change per client at once
    episode = Episode.objects.select_for_update().select_related("agency").get(pk=episode.pk)
    if episode.end_date is None:
        raise ServiceError(_("This episode is open."))
    if Episode.objects.filter(client_id=episode.client_id).current() != episode:
        raise ServiceError(_("Only the client's latest episode can be reopened."))
    deadline = reopen_deadline(episode)
    if deadline is not None and (on or today()) > deadline:
        raise ServiceError(
            _(
                "This episode ended more than %(days)d days ago and can no longer be reopened: "
                "start a new episode instead."
            )
            % {"days": episode.agency.reopen_days}
        )
    before = {"ending": episode.ending, "end_date": episode.end_date.isoformat()}
    episode.end_date = None
    episode.ending = ""
    episode.save(update_fields=["end_date", "ending"])
    audit(episode.agency, actor, "episode.reopened", episode, ip, before=before)
    refresh_episode_summary(episode)
    return episode


@transaction.atomic
def start_episode(
    actor, client: Client, *, on: datetime.date | None = None, ip: str | None = None
) -> Episode:
    """A returning client's new episode under the same code; the earlier ones stay as history.

    The new episode keeps the forms and raters of the one before it.
    """
    client = Client.objects.select_for_update().get(pk=client.pk)
    if client.episodes.open().exists():
        raise ServiceError(_("This client already has an open episode."))
    previous = client.episodes.current()
    start = on or today()
    if previous is not None and previous.end_date is not None:
        start = max(start, previous.end_date)
    default_outcome, default_alliance = agency_forms(client.agency, client.age_band)
    episode = Episode.objects.create(
        agency_id=client.agency_id,
        client=client,
        start_date=start,
        outcome_instrument=previous.outcome_instrument if previous else default_outcome,
        alliance_instrument=previous.alliance_instrument if previous else default_alliance,
        raters=list(previous.raters) if previous else [],
    )
    audit(
        client.agency_id,
        actor,
        "episode.started",
        episode,
        ip,
        client=client.public_id,
        previous=previous.public_id if previous else None,
    )
    return episode


def refresh_episode_summary(episode: Episode) -> EpisodeFeedback:
    """Recompute the episode's denormalised summary and its alerts from the stored scores (in
    the caller's transaction), and set the summary on ``episode`` too."""
    refreshed = summary.refresh(episode.pk)
    if refreshed is None:
        raise Episode.DoesNotExist("the episode was removed")
    for name, value in refreshed.summary.items():
        setattr(episode, name, value)
    return refreshed.feedback


@task
def refresh_open_episodes(agency_id: int, instrument: str) -> int:
    """Recompute zones and alerts of open episodes after the agency's ETR model changed."""
    episodes = Episode.objects.filter(
        agency_id=agency_id, outcome_instrument=instrument, end_date__isnull=True
    ).select_related("client")
    count = 0
    for episode in episodes.iterator():
        refresh_episode_summary(episode)
        count += 1
    return count


def can_acknowledge(user, client: Client) -> bool:
    """The client's own therapist or a supervisor acknowledges a safety alert (not an admin,
    whose role is not clinical, nor a colleague the client is only shared with)."""
    if not has_role(user):
        return False
    return client.therapist_id == user.pk or has_role(user, Role.SUPERVISOR)


@transaction.atomic
def acknowledge_alert(
    actor, alert: Alert, *, ip: str | None = None, now: datetime.datetime | None = None
) -> Alert:
    """Mark a safety alert as acknowledged (who, when), audited; it stays in the history.

    The caller has found the alert through a client the actor may see. Acknowledging it again
    changes nothing (the first acknowledgement is the one kept).
    """
    alert = Alert.objects.select_for_update().select_related("episode__client").get(pk=alert.pk)
    if not can_acknowledge(actor, alert.episode.client):
        raise PermissionDenied
    if alert.code != SAFETY_CODE:
        raise ServiceError(_("Only a safety alert is acknowledged by hand."))
    if alert.acknowledged_at is not None:
        return alert
    alert.acknowledged_at = now or timezone.now()
    alert.acknowledged_by = actor
    alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    audit(
        alert.agency_id,
        actor,
        "alert.acknowledged",
        alert.episode,
        ip,
        alert=alert.pk,
        code=alert.code,
        session=alert.session_number,
        raised_at=alert.created_at.isoformat(),
        acknowledged_at=alert.acknowledged_at.isoformat(),
    )
    return alert


# --- privacy: pseudonymous codes, erasure on request, retention (docs/security.md) -----------

CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"  # no look-alikes (0/O, 1/I/L, 2/Z, 5/S, 8/B)


def new_client_code(agency: Agency) -> str:
    """A random pseudonymous code such as ``C-7KX3PM``, unique in the agency."""
    import secrets

    for _attempt in range(20):
        code = "C-" + "".join(secrets.choice(CODE_ALPHABET) for _i in range(6))
        if not Client.objects.filter(agency=agency, display_code=code).exists():
            return code
    raise ServiceError("could not find a free client code")  # pragma: no cover - 23**6 codes


@transaction.atomic
def erase_client(actor, client: Client, *, reason: str = "request", ip: str | None = None) -> dict:
    """Remove a client and everything recorded about them (episodes, sessions, scores, alerts,
    links), and what other places keep of them: webhook deliveries, queued tasks and messages
    (``client_erasing``), and the details of their audit events (redacted: the chain still
    verifies, see ``alliance.audit.models``). The trail keeps that it happened, under the
    pseudonymous id, with counts only.

    Returns the counts removed, which the audit event also records.
    """
    client = Client.objects.select_for_update().get(pk=client.pk)
    episodes = dict(Episode.objects.filter(client=client).values_list("pk", "public_id"))
    sessions = list(
        Session.objects.filter(episode__client=client).values_list("public_id", flat=True)
    )
    administrations = list(
        Administration.objects.filter(episode__client=client).values_list("public_id", flat=True)
    )
    counts: dict[str, int] = {
        "episodes": len(episodes),
        "sessions": len(sessions),
        "administrations": len(administrations),
    }
    targets: set[tuple[str, str]] = {("client", client.public_id)}
    targets |= {("episode", public_id) for public_id in episodes.values()}
    targets |= {("session", public_id) for public_id in sessions}
    targets |= {("administration", public_id) for public_id in administrations}
    answers: list[Any] = client_erasing.send(sender=Client, client=client)
    for _receiver, answer in answers:
        for key, value in (answer or {}).items():
            if key == "audit_targets":
                targets |= {(str(kind), str(ident)) for kind, ident in value}
            else:
                counts[key] = counts.get(key, 0) + int(value)
    counts["queued_tasks"] = counts.get("queued_tasks", 0) + purge_task_rows(
        "follow_up_rating", list(episodes)
    )
    mentions = [client.public_id, *episodes.values(), *sessions]
    counts["audit_events_redacted"] = _redact_trail(client.agency_id, targets, mentions)
    # After the redaction: this event keeps the fact of the erasure and the counts.
    audit(client.agency, actor, "client.erased", client, ip, reason=reason, **counts)
    client.delete()
    return counts


def _redact_trail(agency_id: int, targets: set[tuple[str, str]], mentions: Sequence[str]) -> int:
    """Redact the details of the agency's events about these targets or naming these ids."""
    by_type: dict[str, list[str]] = {}
    for kind, ident in targets:
        by_type.setdefault(kind, []).append(ident)
    events = AuditEvent.objects.filter(agency_id=agency_id)
    found: dict[int, AuditEvent] = {}
    for kind, idents in by_type.items():
        for start in range(0, len(idents), 500):
            batch = events.filter(target_type=kind, target_id__in=idents[start : start + 500])
            found.update((event.pk, event) for event in batch.only("pk", "detail"))
    for ident in mentions:
        named = events.filter(detail__icontains=ident).only("pk", "detail")
        found.update((event.pk, event) for event in named)
    return redact(agency_id, found.values(), reason="erasure")


def purge_task_rows(task_name: str, first_args: Sequence[int]) -> int:
    """Remove the task rows (queued or finished, not running) of the task named ``task_name``
    whose first argument is one of ``first_args`` (the database queue, ``ALLIANCE_TASKS``)."""
    from django_tasks_db.models import DBTaskResult

    if not first_args:
        return 0
    rows = DBTaskResult.objects.filter(task_path__endswith=f".{task_name}").exclude(
        status="RUNNING"
    )
    removed = 0
    for start in range(0, len(first_args), 500):
        batch = list(first_args[start : start + 500])
        removed += rows.filter(args_kwargs__args__0__in=batch).delete()[0]
    return removed


def retention_due(agency: Agency, on: datetime.date | None = None, *, years: int | None = None):
    """Clients of the agency with no open episode whose last episode ended before the cutoff.

    The one selection: ``apply_retention`` erases these, and the Policies page's preview counts
    them (``years`` there is the period being considered, else the agency's own)."""
    years = agency.retention_years if years is None else years
    if not years:
        return Client.objects.none()
    on = on or today()
    try:
        cutoff = on.replace(year=on.year - years)
    except ValueError:  # 29 February
        cutoff = on.replace(year=on.year - years, day=28)
    open_or_recent = Episode.objects.filter(agency=agency).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=cutoff)
    )
    return (
        Client.objects.filter(agency=agency, episodes__isnull=False)
        .exclude(pk__in=open_or_recent.values("client_id"))
        .distinct()
    )


def apply_retention(agency: Agency, on: datetime.date | None = None) -> int:
    """Erase every client past the agency's retention period; returns how many."""
    erased = 0
    for client in list(retention_due(agency, on)):
        erase_client(None, client, reason="retention")
        erased += 1
    return erased


# ---- clients: reassign to another therapist, merge a duplicate code (and undo within a day) ----
# Imports kept with the functions that use them (appended section, eases merges).

MERGE_UNDO_WINDOW = datetime.timedelta(hours=24)


def _require_agency_admin(actor, agency_id: int) -> None:
    from alliance.accounts.permissions import active_membership

    membership = active_membership(actor)
    if membership is None or membership.role != Role.ADMIN or membership.agency_id != agency_id:
        raise PermissionDenied


@transaction.atomic
def reassign_client(actor, client: Client, therapist, *, ip: str | None = None) -> Client:
    """Give a client to another active member of the agency (an agency admin's action).

    Choosing the therapist the client already has changes nothing (a repeated form stores once).
    """
    from alliance.accounts.permissions import active_membership

    _require_agency_admin(actor, client.agency_id)
    client = Client.objects.select_for_update().get(pk=client.pk)
    membership = active_membership(therapist)
    if membership is None or membership.agency_id != client.agency_id:
        raise ServiceError(_("Choose an active member of this agency."))
    if therapist.pk == client.therapist_id:
        return client
    _move_client(actor, client, therapist, ip)
    return client


def hand_over_clients(actor, clients, therapist, *, ip: str | None = None, **detail) -> int:
    """Move every client of ``clients`` (a queryset) to ``therapist`` the way a reassignment
    does, e.g. when their therapist is deactivated; the caller checked who may. The count."""
    moved = 0
    for client in clients.select_for_update().select_related("therapist").order_by("pk"):
        if client.therapist_id != therapist.pk:
            _move_client(actor, client, therapist, ip, **detail)
            moved += 1
    return moved


def _move_client(actor, client: Client, therapist, ip: str | None, **detail) -> None:
    before = client.therapist
    client.therapist = therapist
    client.save(update_fields=["therapist"])
    # The new therapist sees the client as their own: an explicit share with them is redundant.
    ClientShare.objects.filter(agency_id=client.agency_id, client=client, user=therapist).delete()
    audit(
        client.agency_id,
        actor,
        "client.reassigned",
        client,
        ip,
        before=before.public_id,
        after=therapist.public_id,
        **detail,
    )


def _merge_refusal(duplicate: Client, kept: Client) -> str:
    """Why two clients may not be merged ("" when they may)."""
    if duplicate.pk == kept.pk:
        return _("A client cannot be merged into itself.")
    if duplicate.therapist_id != kept.therapist_id:
        return _(
            "The two clients have different therapists. Reassign one of them first, so that "
            "one therapist holds both, then merge."
        )
    if duplicate.age_band != kept.age_band:
        return _(
            "The two clients are in different age bands, so their forms and norms differ. "
            "Correct the age band of the wrong one first, then merge."
        )
    return ""


def _episode_snapshot(episode: Episode, owner: str) -> dict[str, object]:
    return {
        "owner": owner,
        "public_id": episode.public_id,
        "start_date": episode.start_date.isoformat(),
        "outcome_instrument": episode.outcome_instrument,
        "alliance_instrument": episode.alliance_instrument,
        "raters": list(episode.raters),
    }


@transaction.atomic
def merge_clients(actor, duplicate: Client, kept: Client, *, ip: str | None = None):
    """Move everything of ``duplicate`` (episodes with their sessions and ratings, links, group
    places, shares) to ``kept`` and remove the duplicate's code; undoable for 24 hours.

    Rules: same agency, same therapist, same age band. Two open episodes cannot both stay open:
    when both clients have one, the one without any session is dropped (it holds nothing, and is
    recreated by an undo); when both have sessions the merge is refused.
    """
    from .models import ClientMerge

    _require_agency_admin(actor, duplicate.agency_id)
    if kept.agency_id != duplicate.agency_id:
        raise PermissionDenied
    locked = {
        row.pk: row
        for row in Client.objects.select_for_update()
        .filter(pk__in=[duplicate.pk, kept.pk])
        .order_by("pk")
    }
    if duplicate.pk not in locked or kept.pk not in locked:
        raise ServiceError(_("One of the clients no longer exists (already merged?)."))
    duplicate, kept = locked[duplicate.pk], locked[kept.pk]
    refusal = _merge_refusal(duplicate, kept)
    if refusal:
        raise ServiceError(refusal)
    dropped: dict[str, object] | None = None
    open_duplicate = duplicate.episodes.open().first()
    open_kept = kept.episodes.open().first()
    if open_duplicate is not None and open_kept is not None:
        if not open_kept.sessions.exists():
            dropped, empty = _episode_snapshot(open_kept, "kept"), open_kept
        elif not open_duplicate.sessions.exists():
            dropped, empty = _episode_snapshot(open_duplicate, "duplicate"), open_duplicate
        else:
            raise ServiceError(
                _(
                    "Both clients have an open episode with sessions, and a client has one open "
                    "episode at a time. Close one of the two episodes first, then merge."
                )
            )
        empty.delete()
    episodes = list(duplicate.episodes.values_list("pk", flat=True))
    Episode.objects.filter(pk__in=episodes).update(client=kept)
    links = list(duplicate.feedback_links.values_list("pk", flat=True))
    duplicate.feedback_links.update(client=kept)
    groups_moved, groups_dropped = [], []
    kept_groups = set(kept.group_memberships.values_list("group_id", flat=True))
    for member in duplicate.group_memberships.all():
        if member.group_id in kept_groups:
            groups_dropped.append(member.group_id)
        else:
            groups_moved.append(member.pk)
    duplicate.group_memberships.filter(pk__in=groups_moved).update(client=kept)
    shares_moved, shares_dropped = [], []
    kept_shares = set(kept.shares.values_list("user_id", flat=True)) | {kept.therapist_id}
    for share in duplicate.shares.all():
        if share.user_id in kept_shares:
            shares_dropped.append(share.user_id)
        else:
            shares_moved.append(share.pk)
    duplicate.shares.filter(pk__in=shares_moved).update(client=kept)
    merge = ClientMerge.objects.create(
        agency_id=duplicate.agency_id,
        kept=kept,
        duplicate_public_id=duplicate.public_id,
        duplicate={
            "display_code": duplicate.display_code,
            "name": duplicate.name,
            "birth_year": duplicate.birth_year,
            "age_band": duplicate.age_band,
            "language": duplicate.language,
            "therapist": duplicate.therapist_id,
            "team": duplicate.team_id,
            "created_at": duplicate.created_at.isoformat(),
        },
        moved={
            "episodes": episodes,
            "feedback_links": links,
            "group_members": groups_moved,
            "groups_dropped": groups_dropped,
            "shares": shares_moved,
            "shares_dropped": shares_dropped,
            "dropped_episode": dropped,
        },
        merged_by=actor,
    )
    duplicate.delete()  # what is left: the dropped group places and shares (kept has them)
    audit(
        kept.agency_id,
        actor,
        "client.merged",
        kept,
        ip,
        duplicate=merge.duplicate_public_id,
        merge=merge.public_id,
        episodes=len(episodes),
        dropped_empty_episode=dropped["public_id"] if dropped else None,
    )
    return merge


def merge_undo_deadline(merge) -> datetime.datetime:
    return merge.merged_at + MERGE_UNDO_WINDOW


# What a merge keeps of the duplicate only so that an undo can give it back; once the undo
# window has passed nothing needs them (the code, age band and therapist stay for the history).
MERGE_PERSONAL_DETAILS = ("name", "birth_year")


def merges_to_forget(now: datetime.datetime | None = None):
    """The merges past their undo window that still hold the duplicate's personal details."""
    from .models import ClientMerge

    cutoff = (now or timezone.now()) - MERGE_UNDO_WINDOW
    return ClientMerge.objects.filter(
        merged_at__lt=cutoff, duplicate__has_any_keys=list(MERGE_PERSONAL_DETAILS)
    )


def forget_merge_details(now: datetime.datetime | None = None) -> int:
    """Remove the duplicate's name and birth year from every merge whose undo window has
    passed (``alliance retention``, daily): health data is kept no longer than it is used.
    Each is audited, without the details; returns how many merges were cleared."""
    forgotten = 0
    for pk in list(merges_to_forget(now).values_list("pk", flat=True)):
        with transaction.atomic():
            merge = merges_to_forget(now).select_for_update().filter(pk=pk).first()
            if merge is None:  # cleared meanwhile by another run
                continue
            for key in MERGE_PERSONAL_DETAILS:
                merge.duplicate.pop(key, None)
            merge.save(update_fields=["duplicate"])
            audit(
                merge.agency_id,
                None,
                "client.merge_details_forgotten",
                merge,
                None,
                kept=merge.kept.public_id,
                fields=list(MERGE_PERSONAL_DETAILS),
            )
        forgotten += 1
    return forgotten


@transaction.atomic
def undo_merge(actor, merge, *, ip: str | None = None, now: datetime.datetime | None = None):
    """Recreate the merged duplicate (same public id and code) and move its rows back."""
    from .models import ClientMerge

    _require_agency_admin(actor, merge.agency_id)
    merge = ClientMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise ServiceError(_("This merge was already undone."))
    now = now or timezone.now()
    if now > merge_undo_deadline(merge):
        raise ServiceError(_("A merge can be undone within 24 hours only; this one is older."))
    kept = Client.objects.select_for_update().get(pk=merge.kept_id)
    fields, moved = merge.duplicate, merge.moved
    if Client.objects.filter(
        agency_id=merge.agency_id, display_code=fields["display_code"]
    ).exists():
        raise ServiceError(
            _("The code %(code)s is in use again, so the merge cannot be undone.")
            % {"code": fields["display_code"]}
        )
    team = fields["team"] if Team.objects.filter(pk=fields["team"]).exists() else None
    restored = Client.objects.create(
        agency_id=merge.agency_id,
        public_id=merge.duplicate_public_id,
        display_code=fields["display_code"],
        name=fields["name"],
        birth_year=fields["birth_year"],
        age_band=fields["age_band"],
        # Merges made before the language was kept: the staff member's language, the default.
        language=fields.get("language", SAME_AS_STAFF),
        therapist_id=fields["therapist"],
        team_id=team,
    )
    Client.objects.filter(pk=restored.pk).update(
        created_at=datetime.datetime.fromisoformat(fields["created_at"])
    )
    Episode.objects.filter(pk__in=moved["episodes"], client=kept).update(client=restored)
    kept.feedback_links.filter(pk__in=moved["feedback_links"]).update(client=restored)
    kept.group_memberships.filter(pk__in=moved["group_members"]).update(client=restored)
    for group_id in moved["groups_dropped"]:
        restored.group_memberships.create(agency_id=merge.agency_id, group_id=group_id)
    kept.shares.filter(pk__in=moved["shares"]).update(client=restored)
    for user_id in moved["shares_dropped"]:
        if user_id != restored.therapist_id:
            ClientShare.objects.create(agency_id=merge.agency_id, client=restored, user_id=user_id)
    dropped = moved.get("dropped_episode")
    if dropped:
        owner = kept if dropped["owner"] == "kept" else restored
        if owner.episodes.open().exists():
            raise ServiceError(
                _(
                    "A new episode was opened since the merge, so the merge cannot be undone: "
                    "close that episode first."
                )
            )
        Episode.objects.create(
            agency_id=merge.agency_id,
            client=owner,
            public_id=dropped["public_id"],
            start_date=datetime.date.fromisoformat(dropped["start_date"]),
            outcome_instrument=dropped["outcome_instrument"],
            alliance_instrument=dropped["alliance_instrument"],
            raters=dropped["raters"],
        )
    merge.undone_at = now
    merge.undone_by = actor
    merge.save(update_fields=["undone_at", "undone_by"])
    audit(
        merge.agency_id,
        actor,
        "client.merge_undone",
        restored,
        ip,
        kept=kept.public_id,
        merge=merge.public_id,
    )
    return restored
