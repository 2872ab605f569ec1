"""Commit: bulk inserts of a planned import, in dependency order, inside the caller's transaction.

Rows are written with ``_insert`` (one executemany, or COPY on PostgreSQL, per table; no model
instances); the primary keys needed for foreign keys are read back by public id. A new episode's
summary and alerts are computed once from its rows in memory, by the same code the care app uses
after every rating (``care.feedback.scores_feedback`` and ``episode_summary``); episodes of an
earlier import that gain rows are refreshed by ``care.services.refresh_episode_summary``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, cast

import pandas as pd
from django.db import connection, models
from django.utils import timezone

from alliance.accounts.models import Agency, new_public_id
from alliance.care.feedback import EpisodeFeedback, Score, episode_summary, scores_feedback
from alliance.care.models import (
    Administration,
    Alert,
    Attendance,
    Client,
    Ending,
    EntryMode,
    Episode,
    Session,
    SessionKind,
)
from alliance.care.services import agency_forms, refresh_episode_summary

from ..models import ImportedEpisode
from .plan import Plan, natural_key
from .validate import kind

COLUMNS = [
    "episode_id",
    "client_id",
    "session_number",
    "session_date",
    "instrument",
    "rater",
    "items",
    "total",
    "total_only",
    "therapist",
    "team",
    "age_band",
    "ending",
    "name",
    "rater_relationship",
]


class _Row(Protocol):
    """One ``itertuples`` record of the clean frame's ``COLUMNS`` (pandas types it as a tuple)."""

    episode_id: str
    client_id: str
    session_number: float
    session_date: datetime.date
    instrument: str
    rater: str
    items: Mapping[str, float]
    total: float
    total_only: bool
    therapist: float
    team: float  # NaN when the row names no team
    age_band: str
    ending: str
    name: str
    rater_relationship: str


@dataclass
class _Episode:
    """The rows of one episode key in the import, gathered in one pass."""

    first: _Row  # the first row (session order): client, therapist, team, age band, ending
    instruments: set[str] = field(default_factory=set)
    raters: set[str] = field(default_factory=set)
    sessions: dict[int, datetime.date] = field(default_factory=dict)  # number -> date
    scores: list[Score] = field(default_factory=list)


def commit(
    actor, agency: Agency, clean: pd.DataFrame, plan: Plan, *, alert_history: bool = False
) -> None:
    """Write the planned rows. ``alert_history``: store for each new episode the alerts every
    session raised when it happened (as if rated live), not only those that hold now."""
    rows = clean.loc[plan.new_rows].sort_values(["episode_id", "session_number"], kind="stable")
    records = cast(list[_Row], list(rows[COLUMNS].itertuples(index=False, name="Row")))
    episodes: dict[str, _Episode] = {}
    for record in records:
        episode = episodes.setdefault(record.episode_id, _Episode(record))
        episode.instruments.add(record.instrument)
        episode.raters.add(record.rater)
        episode.sessions.setdefault(int(record.session_number), record.session_date)
        if record.episode_id not in plan.existing_episodes:
            episode.scores.append(
                (
                    int(record.session_number),
                    record.instrument,
                    record.rater,
                    float(record.total),
                    record.items,
                    bool(record.total_only),
                )
            )
    client_pks, age_bands = _write_clients(agency, plan, episodes)
    episode_pks = dict(plan.existing_episodes)
    alerts = _write_episodes(
        agency, plan, episodes, client_pks, age_bands, episode_pks, alert_history=alert_history
    )
    earlier = [episode_pks[key] for key in episodes if key in plan.existing_episodes]
    existing_sessions = _session_ids(agency, earlier)
    _insert(
        Session,
        [
            {
                "public_id": new_public_id(),
                "episode_id": episode_pks[key],
                "number": number,
                "date": date,
            }
            for key, episode in episodes.items()
            for number, date in episode.sessions.items()
            if (episode_pks[key], number) not in existing_sessions
        ],
        agency_id=agency.pk,
        attendance=Attendance.ATTENDED,
    )
    session_ids = _session_ids(agency, [episode_pks[key] for key in episodes])
    _insert(
        Administration,
        [
            {
                "public_id": new_public_id(),
                "episode_id": episode_pks[r.episode_id],
                "session_id": session_ids[(episode_pks[r.episode_id], int(r.session_number))],
                "instrument": r.instrument,
                "rater": r.rater,
                "items": r.items,
                "total": float(r.total),
                "total_only": bool(r.total_only),
                "idempotency_key": natural_key(
                    r.episode_id, int(r.session_number), r.instrument, r.rater
                ),
                "rater_relationship": r.rater_relationship,
            }
            for r in records
        ],
        agency_id=agency.pk,
        entry_mode=EntryMode.IMPORT,
        entered_by_id=actor.pk if getattr(actor, "is_authenticated", False) else None,
    )
    _insert(Alert, alerts, agency_id=agency.pk)
    if earlier:
        for stored in Episode.objects.filter(pk__in=earlier).select_related("client"):
            # Episodes imported before that gain rows: the care service recomputes them.
            refresh_episode_summary(stored)


def _write_clients(
    agency: Agency, plan: Plan, episodes: dict[str, _Episode]
) -> tuple[dict[str, int], dict[str, str]]:
    """Insert the new clients; answer {display code: pk} and the age band of every client involved."""
    new_clients = set(plan.new_clients)
    client_rows: dict[str, dict] = {}
    for episode in episodes.values():
        first = episode.first
        if first.client_id in new_clients and first.client_id not in client_rows:
            client_rows[first.client_id] = {
                "display_code": first.client_id,
                "public_id": new_public_id(),
                "therapist_id": int(first.therapist),
                "team_id": None if pd.isna(first.team) else int(first.team),
                "age_band": first.age_band,
                "name": first.name,
            }
    _insert(Client, list(client_rows.values()), agency_id=agency.pk, birth_year=None)
    client_pks = dict(plan.existing_clients)
    client_pks.update(
        _pks(Client, [row["public_id"] for row in client_rows.values()], "display_code")
    )
    age_bands = {code: row["age_band"] for code, row in client_rows.items()}
    reused = sorted({e.first.client_id for e in episodes.values()} - set(client_rows))
    for start in range(0, len(reused), 5000):
        age_bands.update(
            Client.objects.filter(
                agency=agency, display_code__in=reused[start : start + 5000]
            ).values_list("display_code", "age_band")
        )
    return client_pks, age_bands


def _write_episodes(
    agency: Agency,
    plan: Plan,
    episodes: dict[str, _Episode],
    client_pks: dict[str, int],
    age_bands: dict[str, str],
    episode_pks: dict[str, int],
    *,
    alert_history: bool,
) -> list[dict]:
    """Insert the new episodes with their summaries (adding their pks to ``episode_pks``);
    answer the alert rows to store for them."""
    episode_rows: dict[str, dict] = {}
    alerts: dict[str, list] = {}
    for key in plan.new_episodes:
        episode = episodes[key]
        first = episode.first
        closed = first.ending in Ending.values
        outcome, alliance = _instruments(episode.instruments, first.age_band, agency)

        evaluate = partial(
            scores_feedback, agency.pk, outcome, alliance, age_bands[first.client_id]
        )
        feedback = evaluate(episode.scores)
        dates = episode.sessions
        episode_rows[key] = {
            "public_id": new_public_id(),
            "client_id": client_pks[first.client_id],
            "start_date": first.session_date,
            "end_date": max(dates.values()) if closed else None,
            "ending": first.ending if closed else "",
            "outcome_instrument": outcome,
            "alliance_instrument": alliance,
            "raters": sorted(episode.raters - {"client"}),
        } | episode_summary(feedback, len(dates), max(dates.values()))
        alerts[key] = _alerts(feedback, evaluate, episode.scores if alert_history else None)
    _insert(Episode, list(episode_rows.values()), agency_id=agency.pk)
    by_public_id = _pks(Episode, [row["public_id"] for row in episode_rows.values()], "public_id")
    episode_pks.update({key: by_public_id[row["public_id"]] for key, row in episode_rows.items()})
    _insert(
        ImportedEpisode,
        [{"source_key": key, "episode_id": episode_pks[key]} for key in plan.new_episodes],
        agency_id=agency.pk,
    )
    return [
        {
            "episode_id": episode_pks[key],
            "session_number": alert.session_number,
            "code": alert.code,
            "severity": alert.severity,
            "reason": str(alert.reason),
        }
        for key, found in alerts.items()
        for alert in found
    ]


def _alerts(
    feedback: EpisodeFeedback,
    evaluate: Callable[[list[Score]], EpisodeFeedback],
    history: list[Score] | None,
) -> list:
    """The alerts that hold now, one per (session, code); with ``history`` (the episode's
    scores) also those each session raised when it was the latest, stored as the care app
    stores them when sessions are rated one by one (an earlier session's alert is kept)."""
    found = {}
    for number in sorted({score[0] for score in history or ()}):
        earlier = [score for score in history or () if score[0] <= number]
        found.update(
            {
                (number, alert.code): alert
                for alert in evaluate(earlier).signals.alerts
                if alert.session_number == number
            }
        )
    current = {(alert.session_number, alert.code): alert for alert in feedback.signals.alerts}
    return list((current | found).values())


def _instruments(codes: set[str], age_band: str, agency: Agency) -> tuple[str, str]:
    outcome = next(c for c in sorted(codes) if kind(c) in ("outcome", "symptom"))
    alliance = next((c for c in sorted(codes) if kind(c) == "alliance"), None)
    if alliance is None:
        alliance = agency_forms(agency, age_band)[1]  # the agency's choice for the band
    return outcome, alliance


def _pks(model, public_ids: list[str], key: str) -> dict:
    """{key field value: pk} for rows just inserted, read back by public id in chunks."""
    found = {}
    for start in range(0, len(public_ids), 5000):
        chunk = public_ids[start : start + 5000]
        found.update(dict(model.objects.filter(public_id__in=chunk).values_list(key, "pk")))
    return found


def _session_ids(agency: Agency, episode_ids: list[int]) -> dict[tuple[int, int], int]:
    found: dict[tuple[int, int], int] = {}
    for start in range(0, len(episode_ids), 5000):
        chunk = episode_ids[start : start + 5000]
        for episode_id, number, pk in Session.objects.filter(
            agency=agency, episode_id__in=chunk, kind=SessionKind.INDIVIDUAL
        ).values_list("episode_id", "number", "pk"):
            found[(episode_id, number)] = pk
    return found


def _insert(model, rows: list[dict], **constants) -> None:
    """INSERT many rows with one executemany (Django's bulk_create spends ~25 us per value).

    Every concrete field gets its value from the row, from ``constants``, from its default
    (callables such as ``new_public_id`` once per row), ``auto_now`` fields the current time.
    Values go through the field's ``get_db_prep_save`` (JSON, dates) except plain scalars.
    """
    if not rows:
        return
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    # Called with one row; the lambdas bind their field through default arguments, which
    # Callable[[row], value] cannot express.
    getters: list[Callable[..., Any]] = []
    for f in fields:
        if f.attname in rows[0]:
            name = f.attname
            if isinstance(f, models.JSONField):
                getters.append(
                    lambda row, n=name, a=connection.ops.adapt_json_value, e=f.encoder: a(row[n], e)
                )
            elif isinstance(f, models.DateTimeField):
                getters.append(lambda row, f=f: f.get_db_prep_save(row[f.attname], connection))
            elif isinstance(f, models.DateField):
                getters.append(
                    lambda row, n=name, a=connection.ops.adapt_datefield_value: a(row[n])
                )
            else:
                getters.append(lambda row, n=name: row[n])
            continue
        if f.attname in constants:
            value = f.get_db_prep_save(constants[f.attname], connection)
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = f.get_db_prep_save(now, connection)
        elif f.has_default() and callable(f.default):
            getters.append(lambda row, f=f: f.get_db_prep_save(f.get_default(), connection))
            continue
        elif f.has_default():
            value = f.get_db_prep_save(f.get_default(), connection)
        elif f.null:
            value = None
        else:
            raise ValueError(f"no value for {model.__name__}.{f.name}")
        getters.append(lambda row, value=value: value)
    quote = connection.ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(model._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY is several times faster than executemany on PostgreSQL.
            copy_sql = "COPY {} ({}) FROM STDIN".format(
                quote(model._meta.db_table), ", ".join(quote(f.column) for f in fields)
            )
            with cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row([get(row) for get in getters])
            return
        for start in range(0, len(rows), 10000):
            cursor.executemany(
                sql, [[get(row) for get in getters] for row in rows[start : start + 10000]]
            )
