"""Business actions on care records. Each is one transaction and writes an AuditEvent."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from alliance.accounts.models import Agency, Team
from alliance.science.etr import EtrError
from alliance.science.instruments import ResponseError, ScoredResponse

from .feedback import EpisodeFeedback, episode_feedback, instrument_for, model_for
from .models import (
    Administration,
    Alert,
    Attendance,
    AuditEvent,
    Client,
    Ending,
    EntryMode,
    Episode,
    Session,
    Zone,
)

__all__ = [
    "RecordResult",
    "ResponseError",
    "ServiceError",
    "close_episode",
    "create_client",
    "record_administration",
    "refresh_episode_summary",
    "set_attendance",
    "start_session",
    "undo_administration",
]


class ServiceError(ValueError):
    """A business rule was broken; the message is meant for the user."""


@dataclass(frozen=True)
class RecordResult:
    administration: Administration
    created: bool
    feedback: EpisodeFeedback


def audit(
    agency: Agency, actor, action: str, target, ip: str | None = None, **detail: object
) -> None:
    AuditEvent.objects.create(
        agency=agency,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=type(target).__name__.lower(),
        target_id=target.public_id,
        detail=detail,
        ip_address=ip or None,
    )


def today() -> datetime.date:
    return timezone.localdate()


@transaction.atomic
def create_client(
    actor,
    agency: Agency,
    *,
    display_code: str,
    therapist,
    age_band: str = "adult",
    birth_year: int | None = None,
    name: str = "",
    team: Team | None = None,
    start_date: datetime.date | None = None,
    outcome_instrument: str = "ors",
    alliance_instrument: str = "srs",
    ip: str | None = None,
) -> Client:
    """Create a client with an open episode."""
    if therapist.agency_membership is None or therapist.membership.agency_id != agency.pk:
        raise ServiceError("the therapist does not belong to this agency")
    if team is not None and team.agency_id != agency.pk:
        raise ServiceError("the team belongs to another agency")
    try:
        model_for(outcome_instrument)
    except EtrError as error:
        raise ServiceError(str(error)) from None
    client = Client.objects.create(
        agency=agency,
        display_code=display_code,
        name=name,
        birth_year=birth_year,
        age_band=age_band,
        therapist=therapist,
        team=team,
    )
    episode = Episode.objects.create(
        agency=agency,
        client=client,
        start_date=start_date or today(),
        outcome_instrument=outcome_instrument,
        alliance_instrument=alliance_instrument,
    )
    audit(agency, actor, "client.created", client, ip, episode=episode.public_id)
    return client


def open_episode(client: Client) -> Episode:
    episode = client.episodes.filter(end_date__isnull=True).order_by("-start_date").first()
    if episode is None:
        raise ServiceError("this client has no open episode")
    return episode


@transaction.atomic
def start_session(
    actor,
    client: Client,
    *,
    on: datetime.date | None = None,
    attendance: str = Attendance.ATTENDED,
    ip: str | None = None,
) -> Session:
    """Today's session of the client's open episode (the existing one if already started)."""
    on = on or today()
    episode = Episode.objects.select_for_update().get(pk=open_episode(client).pk)
    existing = episode.sessions.filter(date=on).order_by("-number").first()
    if existing is not None:
        return existing
    last = episode.sessions.aggregate(last=Max("number"))["last"] or 0
    session = Session.objects.create(
        agency_id=episode.agency_id,
        episode=episode,
        number=last + 1,
        date=on,
        attendance=attendance,
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


@transaction.atomic
def set_attendance(actor, session: Session, attendance: str, *, ip: str | None = None) -> Session:
    """Mark a session attended, cancelled or a no-show (only attended sessions count)."""
    if attendance not in Attendance.values:
        raise ServiceError(f"unknown attendance {attendance!r}")
    episode = Episode.objects.select_for_update().get(pk=session.episode_id)
    if not episode.is_open:
        raise ServiceError("this episode is closed")
    before = session.attendance
    session.attendance = attendance
    session.save(update_fields=["attendance"])
    audit(episode.agency, actor, "session.attendance", session, ip, before=before, after=attendance)
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
    raise ServiceError("enter the item scores or the total")


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
    ip: str | None = None,
) -> RecordResult:
    """Score and store one administration; a repeated idempotency key stores nothing new.

    Raises ResponseError (naming the item) for invalid scores, ServiceError for broken rules;
    in both cases nothing is stored. A second save for the same rater and instrument in the
    same session is an edit of the first.
    """
    if not idempotency_key:
        raise ServiceError("missing idempotency key: reload the page and try again")
    episode = session.episode
    if instrument not in (episode.outcome_instrument, episode.alliance_instrument):
        raise ServiceError(f"instrument {instrument!r} is not in use in this episode")
    if entry_mode not in EntryMode.values:
        raise ServiceError(f"unknown entry mode {entry_mode!r}")
    if not rater:
        raise ServiceError("the rater is missing")
    scored = _score(instrument, items, total)
    try:
        return _store_administration(
            actor,
            session,
            instrument,
            idempotency_key,
            scored,
            rater,
            rater_relationship,
            entry_mode,
            ip,
        )
    except IntegrityError:
        # Two identical submissions raced: the other one stored it; answer with that row.
        stored = Administration.objects.filter(
            agency_id=session.agency_id, idempotency_key=idempotency_key
        ).first()
        if stored is None:
            raise
        return RecordResult(stored, False, _feedback_for(stored.episode))


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
    ip: str | None,
) -> RecordResult:
    # Lock the episode so concurrent saves of one episode serialise and the summary stays right.
    episode = Episode.objects.select_for_update().get(pk=session.episode_id)
    if not episode.is_open:
        raise ServiceError("this episode is closed")
    duplicate = Administration.objects.filter(
        agency_id=episode.agency_id, idempotency_key=idempotency_key
    ).first()
    if duplicate is not None:
        return RecordResult(duplicate, False, _feedback_for(episode))
    values = {
        "items": scored.items,
        "total": scored.total,
        "total_only": scored.total_only,
        "entry_mode": entry_mode,
        "rater_relationship": rater_relationship,
        "idempotency_key": idempotency_key,
        "entered_by": actor if getattr(actor, "is_authenticated", False) else None,
    }
    existing = Administration.objects.filter(
        agency_id=episode.agency_id, session=session, instrument=instrument, rater=rater
    ).first()
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
        audit(
            episode.agency,
            actor,
            "administration.edited",
            administration,
            ip,
            before=before,
            after={"items": scored.items, "total": scored.total, "entry_mode": entry_mode},
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
        audit(
            episode.agency,
            actor,
            "administration.recorded",
            administration,
            ip,
            session=session.number,
            instrument=instrument,
            rater=rater,
            items=scored.items,
            total=scored.total,
            entry_mode=entry_mode,
        )
    feedback = refresh_episode_summary(episode)
    return RecordResult(administration, existing is None, feedback)


@transaction.atomic
def undo_administration(
    actor, administration: Administration, *, ip: str | None = None
) -> EpisodeFeedback:
    """Remove an administration saved in a session; the audit trail keeps what it was."""
    episode = Episode.objects.select_for_update().get(pk=administration.episode_id)
    if not episode.is_open:
        raise ServiceError("this episode is closed")
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
        raise ServiceError(f"unknown ending {ending!r} (expected planned or unilateral)")
    episode = Episode.objects.select_for_update().get(pk=episode.pk)
    if not episode.is_open:
        raise ServiceError("this episode is already closed")
    last_date = episode.last_session_date or episode.start_date
    episode.end_date = max(on or today(), last_date, episode.start_date)
    episode.ending = ending
    episode.save(update_fields=["end_date", "ending"])
    audit(episode.agency, actor, "episode.closed", episode, ip, ending=ending)
    return episode


def _administrations_of(episode: Episode) -> list[Administration]:
    return list(
        Administration.objects.filter(episode=episode)
        .select_related("session")
        .order_by("session__number", "instrument")
    )


def _feedback_for(episode: Episode) -> EpisodeFeedback:
    return episode_feedback(episode, _administrations_of(episode))


def refresh_episode_summary(episode: Episode) -> EpisodeFeedback:
    """Recompute the episode's denormalised summary and its alerts from the stored scores."""
    feedback = _feedback_for(episode)
    attended = episode.sessions.filter(attendance=Attendance.ATTENDED)
    episode.session_count = attended.count()
    episode.last_session_date = attended.aggregate(last=Max("date"))["last"]
    outcome = feedback.outcome
    episode.intake_total = outcome[0][1] if outcome else None
    episode.last_outcome_session, episode.last_outcome_total = (
        outcome[-1] if outcome else (None, None)
    )
    episode.zone = feedback.signals.latest_colour if outcome else Zone.NONE
    alliance = feedback.alliance
    episode.last_alliance_total = alliance[-1].total if alliance else None
    episode.alliance_flag = feedback.signals.latest_alliance_colour if alliance else Zone.NONE
    episode.save(
        update_fields=[
            "session_count",
            "last_session_date",
            "intake_total",
            "last_outcome_total",
            "last_outcome_session",
            "zone",
            "last_alliance_total",
            "alliance_flag",
        ]
    )
    _sync_alerts(episode, feedback)
    return feedback


def _sync_alerts(episode: Episode, feedback: EpisodeFeedback) -> None:
    """Store the current alerts, keeping those of earlier sessions as history.

    The science core reports the alerts that hold now; alerts stored for the latest scored
    session (or later, after an undo) that no longer hold are removed, earlier ones are kept.
    """
    current = {(alert.session_number, alert.code): alert for alert in feedback.signals.alerts}
    stored = {(a.session_number, a.code): a.pk for a in Alert.objects.filter(episode=episode)}
    latest = latest_scored_session(feedback)
    stale = [
        pk
        for (number, code), pk in stored.items()
        if (number, code) not in current and number >= latest
    ]
    if stale:
        Alert.objects.filter(pk__in=stale).delete()
    Alert.objects.bulk_create(
        [
            Alert(
                agency_id=episode.agency_id,
                episode=episode,
                session_number=alert.session_number,
                code=alert.code,
                severity=alert.severity,
                reason=alert.reason,
            )
            for key, alert in current.items()
            if key not in stored
        ]
    )


def latest_scored_session(feedback: EpisodeFeedback) -> int:
    numbers = [n for n, _ in feedback.outcome] + [s.session_number for s in feedback.alliance]
    return max(numbers, default=0)
