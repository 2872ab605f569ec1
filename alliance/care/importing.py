"""Bulk import of an administrations table (simulator output, research data) into one agency.

Rows are written with bulk inserts and each episode's summary is computed once at the end, so
importing hundreds of administrations takes a fraction of a second per episode.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import pandas as pd
from django.db import transaction

from alliance.accounts.models import Agency, Team

from .feedback import episode_feedback, instrument_for
from .models import Administration, Alert, Client, Ending, EntryMode, Episode, Session
from .services import audit, refresh_episode_summary


def _date(value: object) -> datetime.date:
    return pd.Timestamp(value).date()


def _items(row: pd.Series, instrument_code: str) -> dict[str, float]:
    keys = [item.key for item in instrument_for(instrument_code).items]
    values = {key: row.get(f"item_{index}") for index, key in enumerate(keys, start=1)}
    return {
        key: float(value)
        for key, value in values.items()
        if value is not None and not pd.isna(value)
    }


def _instruments(rows: pd.DataFrame) -> tuple[str, str]:
    codes = list(dict.fromkeys(rows["instrument"]))
    outcome = next(code for code in codes if instrument_for(code).kind == "outcome")
    alliance = next((code for code in codes if instrument_for(code).kind == "alliance"), "srs")
    return outcome, alliance


@transaction.atomic
def import_episodes(
    actor,
    agency: Agency,
    frame: pd.DataFrame,
    *,
    therapists: Mapping[str, object],
    teams: Mapping[str, Team] | None = None,
    code_prefix: str = "",
) -> list[Episode]:
    """Create one client with one episode per ``episode_id`` of a validated administrations table.

    ``therapists`` maps the table's therapist_id to users of the agency; ``teams`` maps team_id.
    """
    teams = teams or {}
    episodes: list[Episode] = []
    for _, rows in frame.groupby("episode_id", sort=True):
        rows = rows.sort_values(["session_number", "instrument", "rater"])
        first = rows.iloc[0]
        outcome, alliance = _instruments(rows)
        client = Client.objects.create(
            agency=agency,
            display_code=f"{code_prefix}{first['client_id']}",
            age_band=first.get("age_band") or "adult",
            therapist=therapists[first["therapist_id"]],
            team=teams.get(str(first.get("team_id"))),
        )
        ending = first.get("ending")
        closed = isinstance(ending, str) and ending in Ending.values
        last_date = _date(rows["session_date"].max())
        episode = Episode.objects.create(
            agency=agency,
            client=client,
            start_date=_date(rows["session_date"].min()),
            end_date=last_date if closed else None,
            ending=ending if closed else "",
            outcome_instrument=outcome,
            alliance_instrument=alliance,
            raters=sorted({r for r in rows["rater"] if r != "client"}),
        )
        administrations = _import_sessions(actor, agency, episode, rows)
        _import_alert_history(episode, administrations)
        refresh_episode_summary(episode)
        episodes.append(episode)
    audit(agency, actor, "episodes.imported", agency, None, episodes=len(episodes), rows=len(frame))
    return episodes


def _import_alert_history(episode: Episode, administrations: list[Administration]) -> None:
    """The alerts each session would have raised when it happened (not only today's)."""
    alerts: dict[tuple[int, str], Alert] = {}
    for number in sorted({a.session.number for a in administrations}):
        so_far = [a for a in administrations if a.session.number <= number]
        for alert in episode_feedback(episode, so_far).signals.alerts:
            if alert.session_number == number:
                alerts[(number, alert.code)] = Alert(
                    agency_id=episode.agency_id,
                    episode=episode,
                    session_number=number,
                    code=alert.code,
                    severity=alert.severity,
                    reason=alert.reason,
                )
    Alert.objects.bulk_create(list(alerts.values()))


def _import_sessions(
    actor, agency: Agency, episode: Episode, rows: pd.DataFrame
) -> list[Administration]:
    sessions = Session.objects.bulk_create(
        [
            Session(
                agency=agency,
                episode=episode,
                number=int(number),
                date=_date(group["session_date"].iloc[0]),
            )
            for number, group in rows.groupby("session_number", sort=True)
        ]
    )
    by_number = {session.number: session for session in sessions}
    return Administration.objects.bulk_create(
        [
            Administration(
                agency=agency,
                episode=episode,
                session=by_number[int(row["session_number"])],
                instrument=row["instrument"],
                rater=row["rater"],
                items=_items(row, row["instrument"]),
                total=float(row["total"]),
                entry_mode=EntryMode.IMPORT,
                idempotency_key=f"import-{episode.public_id}-{index}",
                entered_by=actor,
            )
            for index, (_, row) in enumerate(rows.iterrows())
            if not pd.isna(row["total"])
        ]
    )
