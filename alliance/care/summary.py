"""An episode's summary (the caseload's columns) and its alerts, brought up to date in place.

``refresh(episode_id)`` is what every write that changes an episode's scores or sessions calls
inside its own transaction: a rating (in the request that stores it), an undo, an attendance, a
reopened episode, an import, a refitted ETR model. The caseload's zone and the alerts are
therefore right the moment the write commits, whether a task worker runs or not.

It reads everything it needs in one statement, built once per process (``facts_sql``): the
episode, locked on PostgreSQL so that concurrent writes of one episode take turns; its client's
age band; the count and last date of its attended individual sessions; the agency's active
fitted model; every score of the episode; and the keys of its stored alerts. It then writes only
what changed: the summary's changed fields, the alerts that no longer hold, the new ones.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Field
from django.dispatch import Signal

from alliance.science.signals import SAFETY_CODE

from .feedback import EpisodeFeedback, Score, episode_summary, scores_feedback
from .models import Alert, Attendance, Episode, SessionKind

# Sent inside the writing transaction with the alerts a refresh raised (one episode's), so that
# whatever a receiver stores for them (a webhook's deliveries) commits with them or not at all.
alerts_raised = Signal()

# The summary's fields, in the order the facts statement reads them.
SUMMARY_FIELDS = Episode.SUMMARY_FIELDS


@dataclass(frozen=True)
class Facts:
    """What an episode's summary and alerts are computed from, as one statement reads it."""

    agency_id: int
    outcome_instrument: str
    alliance_instrument: str
    age_band: str
    stored: Mapping[str, object]  # the summary as stored now (SUMMARY_FIELDS)
    attended_count: int
    attended_last: datetime.date | None
    fitted_model: Mapping[str, object] | None  # the agency's active model's parameters
    scores: list[Score]  # in the order every reader uses: session, instrument, rater, id
    alerts: dict[tuple[int, str], int]  # stored alerts: (session number, code) -> id


@dataclass(frozen=True)
class Refreshed:
    feedback: EpisodeFeedback
    summary: dict[str, object]  # every summary field's value now


_FACTS_SQL: dict[str, str] = {}  # by database vendor


def facts_sql() -> str:
    """The facts statement (its one parameter: the episode's id), built once per vendor.

    Table and column names come from the models' metadata. Scores and alerts come as one JSON
    array each; their order is set in Python (SQLite's JSON aggregate takes no ORDER BY).
    """
    vendor = connection.vendor
    built = _FACTS_SQL.get(vendor)
    if built is not None:
        return built
    from .models import Administration, Client, FittedModel, Session

    def table(model: Any) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    postgres = vendor == "postgresql"
    array = "json_build_array" if postgres else "json_array"
    aggregate = "json_agg" if postgres else "json_group_array"
    items = "a.items" if postgres else "json(a.items)"
    attended = (
        f"FROM {table(Session)} s WHERE s.agency_id = e.agency_id AND s.episode_id = e.id"
        f" AND s.attendance = '{Attendance.ATTENDED}' AND s.kind = '{SessionKind.INDIVIDUAL}'"
    )
    summary = ", ".join(f"e.{field}" for field in SUMMARY_FIELDS)
    # Constant names and model metadata only; the episode's id is the one bound parameter.
    built = _FACTS_SQL[vendor] = (
        f"SELECT e.agency_id, e.outcome_instrument, e.alliance_instrument, c.age_band, {summary},"  # nosec B608
        f" (SELECT count(*) {attended}), (SELECT max(s.date) {attended}),"
        f" (SELECT f.parameters FROM {table(FittedModel)} f WHERE f.agency_id = e.agency_id"
        f" AND f.instrument = e.outcome_instrument AND f.active LIMIT 1),"
        f" (SELECT {aggregate}({array}(s.number, a.instrument, a.rater, a.total, {items},"
        f" a.total_only, a.id)) FROM {table(Administration)} a JOIN {table(Session)} s"
        f" ON s.id = a.session_id WHERE a.agency_id = e.agency_id AND a.episode_id = e.id),"
        f" (SELECT {aggregate}({array}(al.session_number, al.code, al.id))"
        f" FROM {table(Alert)} al WHERE al.agency_id = e.agency_id AND al.episode_id = e.id)"
        f" FROM {table(Episode)} e JOIN {table(Client)} c ON c.id = e.client_id"
        f" AND c.agency_id = e.agency_id WHERE e.id = %s" + (" FOR UPDATE OF e" if postgres else "")
    )
    return built


def _json(value: Any) -> Any:
    """A JSON value as PostgreSQL's driver hands it (parsed) or SQLite's (text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def read_facts(episode_id: int) -> Facts | None:
    """The facts of an episode (locking it on PostgreSQL); None when it no longer exists."""
    with connection.cursor() as cursor:
        cursor.execute(facts_sql(), [episode_id])
        row = cursor.fetchone()
    if row is None:
        return None
    agency_id, outcome, alliance, age_band, *rest = row
    stored = dict(zip(SUMMARY_FIELDS, rest[: len(SUMMARY_FIELDS)], strict=True))
    count, last, fitted, scores, alerts = rest[len(SUMMARY_FIELDS) :]
    if isinstance(stored["last_session_date"], str):  # SQLite's dates are text
        stored["last_session_date"] = datetime.date.fromisoformat(stored["last_session_date"])
    if isinstance(last, str):
        last = datetime.date.fromisoformat(last)
    rows = sorted(_json(scores) or (), key=lambda r: (r[0], r[1], r[2], r[6]))
    return Facts(
        agency_id=agency_id,
        outcome_instrument=outcome,
        alliance_instrument=alliance,
        age_band=age_band,
        stored=stored,
        attended_count=count or 0,
        attended_last=last,
        fitted_model=_json(fitted),
        scores=[
            (n, i, r, float(t), _json(items), bool(only)) for n, i, r, t, items, only, _ in rows
        ],
        alerts={(number, code): pk for number, code, pk in _json(alerts) or ()},
    )


def refresh(episode_id: int) -> Refreshed | None:
    """Bring the episode's summary and alerts up to date from its stored scores.

    Runs in the caller's transaction (or one of its own): the summary, the alerts and whatever
    ``alerts_raised`` stores commit with the write that called it. None when the episode is gone.
    """
    with transaction.atomic(savepoint=False):
        facts = read_facts(episode_id)
        if facts is None:
            return None
        feedback = scores_feedback(
            facts.agency_id,
            facts.outcome_instrument,
            facts.alliance_instrument,
            facts.age_band,
            facts.scores,
            facts.fitted_model,
        )
        summary = episode_summary(feedback, facts.attended_count, facts.attended_last)
        changed = {name: value for name, value in summary.items() if facts.stored[name] != value}
        if changed:
            _write_summary(facts.agency_id, episode_id, changed)
        _sync_alerts(episode_id, facts, feedback)
    return Refreshed(feedback, summary)


def _write_summary(agency_id: int, episode_id: int, changed: Mapping[str, object]) -> None:
    """``Episode.objects.filter(...).update(**changed)`` as one plain statement (after every
    rating: the ORM's SQL compiler costs more than the update)."""
    fields = [cast(Field, Episode._meta.get_field(name)) for name in changed]
    name = connection.ops.quote_name
    assignments = ", ".join(f"{name(cast(str, field.column))} = %s" for field in fields)
    values = [field.get_db_prep_save(changed[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        # Column names come from the model's metadata, never from input.
        cursor.execute(
            f"UPDATE {name(Episode._meta.db_table)} SET {assignments}"  # nosec B608
            " WHERE agency_id = %s AND id = %s",
            [*values, agency_id, episode_id],
        )


def _sync_alerts(episode_id: int, facts: Facts, feedback: EpisodeFeedback) -> None:
    """Store the current alerts, keeping those of earlier sessions as history.

    The science core reports the alerts that hold now; alerts stored for the latest scored
    session (or later, after an undo) that no longer hold are removed, earlier ones are kept.
    A safety alert is never removed here (not by a later score, an undo or a model refresh):
    only a person acknowledging it closes it, and it stays in the history.
    """
    current = {(alert.session_number, alert.code): alert for alert in feedback.signals.alerts}
    latest = latest_scored_session(feedback)
    stale = [
        pk
        for (number, code), pk in facts.alerts.items()
        if (number, code) not in current and number >= latest and code != SAFETY_CODE
    ]
    if stale:
        Alert.objects.filter(agency_id=facts.agency_id, pk__in=stale).delete()
    raised = Alert.objects.bulk_create(
        [
            Alert(
                agency_id=facts.agency_id,
                episode_id=episode_id,
                session_number=alert.session_number,
                code=alert.code,
                severity=alert.severity,
                reason=alert.reason,
                facts=plain_facts(alert.facts),
            )
            for key, alert in current.items()
            if key not in facts.alerts
        ]
    )
    if raised:
        alerts_raised.send(sender=Alert, alerts=raised)


def plain_facts(facts) -> dict:
    """An alert's facts as JSON values (the science core may hand numpy numbers)."""
    return json.loads(json.dumps(dict(facts), default=lambda value: value.item()))


def latest_scored_session(feedback: EpisodeFeedback) -> int:
    numbers = [n for n, _ in feedback.outcome] + [s.session_number for s in feedback.alliance]
    return max(numbers, default=0)
