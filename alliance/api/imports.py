"""Bulk import of historical administrations into one agency: validate, dry run, commit.

Input: the administrations table (``alliance.science.table``; CSV with the columns listed there).
``therapist_id`` is the username of a member of the agency, ``team_id`` a team name (optional),
``client_id`` becomes the client's display code and ``episode_id`` the episode's import key.

* Dry run: every row is checked and a report lists (row, column, message) for each problem;
  nothing is written. Row numbers are CSV line numbers (the header is line 1).
* Commit: all or nothing, in one transaction; refused when any row has an error.
* Idempotent: the natural key of a row is (episode key, session number, instrument, rater) within
  the agency (the client code is fixed per episode key). Rows already imported with the same total
  are counted as unchanged; with a different total they are an error (edit them in the app).
* Fast: set-based validation with pandas, bulk inserts, one science evaluation per episode for
  its summary and current alerts (the demo importer ``alliance.care.importing`` also stores the
  alert history of every session, which is too slow for 100,000 rows).
"""

from __future__ import annotations

import datetime
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import IO

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.utils import timezone

from alliance.accounts.models import Agency, Membership, Team, new_public_id
from alliance.audit.services import record as audit_record
from alliance.care.feedback import episode_feedback, instrument_for
from alliance.care.models import Administration as AdministrationRow
from alliance.care.models import (
    AgeBand,
    Alert,
    Attendance,
    Client,
    Ending,
    EntryMode,
    Episode,
    Rater,
    Session,
    Zone,
)
from alliance.care.services import refresh_episode_summary
from alliance.science.instruments import UnknownInstrumentError
from alliance.science.table import REQUIRED_COLUMNS

from .models import ImportedEpisode

MAX_REPORTED_ERRORS = 1000
# The agency CSV export of the reports app (alliance.reports.exports.administration_rows) names
# some columns differently; its episode_id is the episode's public id (re-importing an agency's
# own export into it recognises its episodes). Its research export is pseudonymised: its
# therapist ids are not usernames, so it is for analysis, not for re-import.
EXPORT_COLUMNS = {"client_code": "client_id", "therapist": "therapist_id", "team": "team_id"}
ROW_COLUMN = "_row"
PROBLEM_COLUMN = "_problem"  # "column: message" set by a converter (e.g. FHIR) for a row
BATCH = 2000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    clients: int = 0
    episodes: int = 0
    sessions: int = 0
    administrations: int = 0
    unchanged: int = 0
    committed: bool = False
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def to_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "rows": self.rows,
            "created": {
                "clients": self.clients,
                "episodes": self.episodes,
                "sessions": self.sessions,
                "administrations": self.administrations,
            },
            "unchanged": self.unchanged,
            "error_count": self.error_count,
            "errors": [error.to_dict() for error in self.errors],
        }


class ImportFormatError(ValueError):
    """The file cannot be read as a table at all (not a per-row problem)."""


def read_csv(source: bytes | str | IO) -> pd.DataFrame:
    """Read a CSV as text columns (no coercion: the validation reports per row)."""
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFormatError("the file is not UTF-8 text") from None
    if isinstance(source, str):
        source = io.StringIO(source)
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ImportFormatError(f"cannot read the CSV file: {error}") from None
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    return frame


def natural_key(episode_key: str, session_number: int, instrument: str, rater: str) -> str:
    """The administration's idempotency key for an imported row (stable across imports)."""
    text = f"{episode_key}\x1f{session_number}\x1f{instrument}\x1f{rater}"
    return "imp-" + hashlib.sha256(text.encode()).hexdigest()[:40]


class _Errors:
    def __init__(self, row_numbers: list[int] | None = None) -> None:
        self.items: list[RowError] = []
        self.bad_rows: set[int] = set()
        self.row_numbers = row_numbers  # None: CSV line numbers (index + 2)

    def add(self, index: int, column: str, message: str) -> None:
        self.bad_rows.add(index)
        row = self.row_numbers[index] if self.row_numbers is not None else index + 2
        self.items.append(RowError(row, column, message))

    def add_mask(self, frame: pd.DataFrame, mask, column: str, message: str) -> None:
        for index in np.flatnonzero(np.asarray(mask, dtype=bool)):
            self.add(int(index), column, message)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].fillna("").astype(str).str.strip()


def _item_columns(frame: pd.DataFrame) -> list[str]:
    return sorted(
        (c for c in frame.columns if c.startswith("item_") and c[5:].isdigit()),
        key=lambda c: int(c[5:]),
    )


def _validate(agency: Agency, frame: pd.DataFrame, errors: _Errors) -> pd.DataFrame:
    """Per-row checks; returns a clean frame (typed columns, items dict, computed total)."""
    frame = frame.reset_index(drop=True)
    clean = pd.DataFrame(index=frame.index)
    for column in ("client_id", "episode_id", "therapist_id", "instrument", "rater"):
        clean[column] = _text(frame, column)
        errors.add_mask(frame, clean[column] == "", column, "is empty")
    clean["instrument"] = clean["instrument"].str.lower()
    clean["rater"] = clean["rater"].str.lower()
    clean["name"] = _text(frame, "client_name")
    clean["rater_relationship"] = _text(frame, "rater_relationship").str.slice(0, 100)
    for column, limit in (("client_id", 40), ("episode_id", 100), ("name", 200)):
        errors.add_mask(frame, clean[column].str.len() > limit, column, f"longer than {limit}")

    numbers = pd.to_numeric(_text(frame, "session_number"), errors="coerce")
    bad = numbers.isna() | (numbers < 1) | (numbers % 1 != 0) | (numbers > 10000)
    errors.add_mask(
        frame, bad & (clean["episode_id"] != ""), "session_number", "is not a whole number from 1"
    )
    clean["session_number"] = numbers.where(~bad, 0).astype("int64")

    dates = pd.to_datetime(_text(frame, "session_date"), format="%Y-%m-%d", errors="coerce")
    errors.add_mask(frame, dates.isna(), "session_date", "is not a date (YYYY-MM-DD)")
    clean["session_date"] = dates.dt.date

    raters = clean["rater"]
    errors.add_mask(
        frame,
        (raters != "") & ~raters.isin(Rater.values),
        "rater",
        "is not one of " + ", ".join(Rater.values),
    )

    members = dict(
        Membership.objects.filter(agency=agency, user__is_active=True).values_list(
            "user__username", "user_id"
        )
    )
    clean["therapist"] = clean["therapist_id"].map(members)
    errors.add_mask(
        frame,
        (clean["therapist_id"] != "") & clean["therapist"].isna(),
        "therapist_id",
        "is not the username of a member of this agency",
    )

    teams = dict(Team.objects.filter(agency=agency).values_list("name", "pk"))
    team_names = _text(frame, "team_id")
    clean["team"] = team_names.map(teams)
    errors.add_mask(
        frame, (team_names != "") & clean["team"].isna(), "team_id", "is not a team of this agency"
    )

    age_bands = _text(frame, "age_band").str.lower()
    errors.add_mask(
        frame,
        (age_bands != "") & ~age_bands.isin(AgeBand.values),
        "age_band",
        "is not one of " + ", ".join(AgeBand.values),
    )
    clean["age_band"] = age_bands.where(age_bands != "", AgeBand.ADULT)
    endings = _text(frame, "ending").str.lower()
    errors.add_mask(
        frame,
        (endings != "") & ~endings.isin(Ending.values),
        "ending",
        "is not planned, unilateral or empty",
    )
    clean["ending"] = endings

    if PROBLEM_COLUMN in frame.columns:
        for index, problem in enumerate(frame[PROBLEM_COLUMN].fillna("")):
            if problem:
                column, _, message = problem.partition(": ")
                errors.add(index, column, message)
    _validate_scores(frame, clean, errors)
    _validate_episodes(clean, errors)
    return clean


def _validate_scores(frame: pd.DataFrame, clean: pd.DataFrame, errors: _Errors) -> None:
    totals = pd.to_numeric(_text(frame, "total"), errors="coerce")
    given_total = _text(frame, "total") != ""
    errors.add_mask(frame, given_total & totals.isna(), "total", "is not a number")
    item_columns = _item_columns(frame)
    item_values = {c: pd.to_numeric(_text(frame, c), errors="coerce") for c in item_columns}
    for column in item_columns:
        errors.add_mask(
            frame,
            (_text(frame, column) != "") & item_values[column].isna(),
            column,
            "is not a number",
        )
    clean["total"] = np.nan
    clean["items"] = [{} for _ in range(len(clean))]
    clean["total_only"] = True
    for code, rows in clean.groupby("instrument", sort=False).groups.items():
        if code == "":
            continue
        try:
            instrument = instrument_for(code)
        except UnknownInstrumentError:
            for index in rows:
                errors.add(int(index), "instrument", f"unknown instrument {code!r}")
            continue
        keys = instrument.item_keys
        present = list(item_columns[: len(keys)])
        values = (
            np.column_stack([item_values[c].loc[rows].to_numpy(dtype=float) for c in present])
            if present
            else np.empty((len(rows), 0))
        )
        filled = ~np.isnan(values)
        n_filled = filled.sum(axis=1) if present else np.zeros(len(rows), dtype=int)
        total = totals.loc[rows].to_numpy(dtype=float)
        for position, item in enumerate(instrument.items[: len(present)]):
            column = present[position]
            column_values = values[:, position]
            out = filled[:, position] & ((column_values < item.min) | (column_values > item.max))
            for index in np.asarray(rows)[out]:
                errors.add(int(index), column, f"must be between {item.min:g} and {item.max:g}")
        partial = (n_filled > 0) & (n_filled < len(keys))
        for index in np.asarray(rows)[partial]:
            errors.add(int(index), "item_1", f"give all {len(keys)} items or none")
        complete = n_filled == len(keys)
        item_sum = np.round(np.nansum(values, axis=1), instrument.decimals) if present else total
        mismatch = complete & ~np.isnan(total) & (np.abs(item_sum - total) > 0.05 + 1e-9)
        for index in np.asarray(rows)[mismatch]:
            errors.add(int(index), "total", "does not equal the sum of the items")
        total = np.where(complete & np.isnan(total), item_sum, total)
        missing = np.isnan(total)
        for index in np.asarray(rows)[missing & ~partial]:
            errors.add(int(index), "total", "give the total or the items")
        out = ~missing & ((total < instrument.total_min) | (total > instrument.total_max))
        for index in np.asarray(rows)[out]:
            errors.add(
                int(index),
                "total",
                f"must be between {instrument.total_min:g} and {instrument.total_max:g}",
            )
        clean.loc[rows, "total"] = total
        clean.loc[rows, "total_only"] = ~complete
        if present:
            item_lists = values.tolist()
            clean.loc[rows, "items"] = pd.Series(
                [
                    dict(zip(keys, row, strict=False)) if ok else {}
                    for row, ok in zip(item_lists, complete, strict=True)
                ],
                index=rows,
                dtype=object,
            )


def _validate_episodes(clean: pd.DataFrame, errors: _Errors) -> None:
    keys = ["episode_id", "session_number", "instrument", "rater"]
    duplicate = clean.duplicated(keys, keep="first") & (clean["episode_id"] != "")
    errors.add_mask(
        clean,
        duplicate,
        "episode_id",
        "repeats an earlier row (same episode, session, instrument and rater)",
    )
    grouped = clean[clean["episode_id"] != ""].groupby("episode_id", sort=False)
    for column in ("client_id", "therapist_id"):
        varies = grouped[column].transform("nunique") > 1
        errors.add_mask(
            clean,
            varies.reindex(clean.index, fill_value=False),
            column,
            "differs between rows of the same episode",
        )
    dates = clean.groupby(["episode_id", "session_number"])["session_date"].transform("nunique")
    errors.add_mask(clean, dates > 1, "session_date", "differs within the same session")
    kinds = clean["instrument"].map(_kind)
    outcome = clean[kinds.isin(["outcome", "symptom"])]
    several = outcome.groupby("episode_id")["instrument"].transform("nunique") > 1
    errors.add_mask(
        clean,
        several.reindex(clean.index, fill_value=False),
        "instrument",
        "an episode uses one outcome instrument",
    )
    has_outcome = set(outcome["episode_id"])
    no_outcome = (clean["episode_id"] != "") & ~clean["episode_id"].isin(has_outcome)
    errors.add_mask(
        clean,
        no_outcome & (kinds != ""),
        "instrument",
        "the episode has no outcome instrument (e.g. ORS)",
    )


def _kind(code: str) -> str:
    try:
        return instrument_for(code).kind
    except UnknownInstrumentError:
        return ""


def import_table(
    actor, agency: Agency, frame: pd.DataFrame, *, dry_run: bool = True
) -> ImportReport:
    """Validate ``frame`` (text columns as read by ``read_csv``) and, unless a dry run, commit."""
    report = ImportReport(dry_run=dry_run, rows=len(frame))
    frame = frame.reset_index(drop=True).rename(columns=EXPORT_COLUMNS)
    row_numbers = None
    if ROW_COLUMN in frame.columns:  # e.g. FHIR: the bundle entry number instead of a CSV line
        row_numbers = [int(n) for n in frame[ROW_COLUMN]]
    errors = _Errors(row_numbers)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        for column in missing:
            errors.items.append(RowError(1, column, "required column is missing"))
        return _finish(report, errors)
    if frame.empty:
        return _finish(report, errors)
    clean = _validate(agency, frame, errors)
    plan = _plan(agency, clean, errors)
    report.clients, report.episodes = len(plan.new_clients), len(plan.new_episodes)
    report.sessions, report.administrations = plan.session_count, len(plan.new_rows)
    report.unchanged = plan.unchanged
    _finish(report, errors)
    if dry_run or not report.ok or not plan.new_rows:
        return report
    with transaction.atomic():
        _commit(actor, agency, clean, plan)
        audit_record(
            actor,
            agency,
            "administrations.imported",
            agency,
            None,
            {
                "rows": report.rows,
                "clients": report.clients,
                "episodes": report.episodes,
                "sessions": report.sessions,
                "administrations": report.administrations,
                "unchanged": report.unchanged,
            },
        )
    report.committed = True
    return report


def _finish(report: ImportReport, errors: _Errors) -> ImportReport:
    ordered = sorted(errors.items, key=lambda e: (e.row, e.column))
    report.error_count = len(ordered)
    report.errors = ordered[:MAX_REPORTED_ERRORS]
    return report


@dataclass
class _Plan:
    existing_clients: dict[str, int]  # display code -> client pk
    existing_episodes: dict[str, int]  # episode key -> episode pk
    new_clients: list[str]
    new_episodes: list[str]
    new_rows: list[int]  # row indexes of administrations to create
    session_count: int
    unchanged: int


def _plan(agency: Agency, clean: pd.DataFrame, errors: _Errors) -> _Plan:
    episode_keys = set(clean["episode_id"]) - {""}
    existing_episodes: dict[str, int] = {}
    for source_key, episode_id in ImportedEpisode.objects.filter(agency=agency).values_list(
        "source_key", "episode_id"
    ):
        if source_key in episode_keys:
            existing_episodes[source_key] = episode_id
    keys = sorted(episode_keys - set(existing_episodes))
    for start in range(0, len(keys), 5000):  # the agency's own export: episodes by public id
        existing_episodes.update(
            Episode.objects.filter(
                agency=agency, public_id__in=keys[start : start + 5000]
            ).values_list("public_id", "pk")
        )
    existing_clients = dict(Client.objects.filter(agency=agency).values_list("display_code", "pk"))
    stored: dict[tuple[int, int, str, str], float] = {}
    stored_sessions: set[tuple[int, int]] = set()
    if existing_episodes:
        ids = set(existing_episodes.values())
        for episode_id, number, instrument, rater, total in AdministrationRow.objects.filter(
            agency=agency, episode_id__in=ids
        ).values_list("episode_id", "session__number", "instrument", "rater", "total"):
            stored[(episode_id, number, instrument, rater)] = total
        stored_sessions = set(
            Session.objects.filter(agency=agency, episode_id__in=ids).values_list(
                "episode_id", "number"
            )
        )
        owners = dict(Episode.objects.filter(pk__in=ids).values_list("pk", "client__display_code"))
    new_rows: list[int] = []
    unchanged = 0
    new_sessions: set[tuple[str, int]] = set()
    rows = clean[["episode_id", "client_id", "session_number", "instrument", "rater", "total"]]
    for index, episode_key, client_code, number, instrument, rater, total in rows.itertuples():
        if index in errors.bad_rows:
            continue
        episode_id = existing_episodes.get(episode_key)
        if episode_id is None:
            new_rows.append(index)
            new_sessions.add((episode_key, number))
            continue
        if owners[episode_id] != client_code:
            errors.add(index, "client_id", "this episode was imported for another client")
            continue
        previous = stored.get((episode_id, number, instrument, rater))
        if previous is None:
            new_rows.append(index)
            if (episode_id, number) not in stored_sessions:
                new_sessions.add((episode_key, number))
        elif abs(previous - total) < 1e-9:
            unchanged += 1
        else:
            errors.add(index, "total", f"already imported with total {previous:g}")
    chosen = clean.loc[new_rows]
    new_episodes = sorted(set(chosen["episode_id"]) - set(existing_episodes))
    codes = set(chosen.loc[~chosen["episode_id"].isin(existing_episodes), "client_id"])
    new_clients = sorted(codes - set(existing_clients))
    _check_open_episodes(agency, chosen, new_episodes, existing_clients, errors)
    return _Plan(
        existing_clients,
        existing_episodes,
        new_clients,
        new_episodes,
        new_rows,
        len(new_sessions),
        unchanged,
    )


def _check_open_episodes(
    agency: Agency,
    chosen: pd.DataFrame,
    new_episodes: list[str],
    existing_clients: dict[str, int],
    errors: _Errors,
) -> None:
    """An open (no ending) imported episode cannot join a client who has an open episode."""
    rows = chosen[chosen["episode_id"].isin(new_episodes) & (chosen["ending"] == "")]
    rows = rows[rows["client_id"].isin(existing_clients)]
    if rows.empty:
        return
    busy = set(
        Episode.objects.filter(agency=agency, end_date__isnull=True).values_list(
            "client_id", flat=True
        )
    )
    for index, code in rows["client_id"].items():
        if existing_clients[code] in busy:
            errors.add(int(index), "ending", "this client already has an open episode")
    open_new = chosen[chosen["episode_id"].isin(new_episodes) & (chosen["ending"] == "")]
    several = open_new.groupby("client_id")["episode_id"].transform("nunique") > 1
    for index in open_new.index[several.to_numpy()]:
        errors.add(int(index), "ending", "a client can have only one open episode")


def _commit(actor, agency: Agency, clean: pd.DataFrame, plan: _Plan) -> None:
    """Bulk inserts in dependency order; new episodes' summaries computed before inserting.

    Rows are written with ``_insert`` (one executemany per table, no model instances); the
    primary keys needed for foreign keys are read back by public id.
    """
    columns = [
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
    rows = clean.loc[plan.new_rows].sort_values(["episode_id", "session_number"], kind="stable")
    records = list(rows[columns].itertuples(index=False, name=None))
    first: dict[str, tuple] = {}
    instruments: dict[str, set[str]] = defaultdict(set)
    raters: dict[str, set[str]] = defaultdict(set)
    last_dates: dict[str, datetime.date] = {}
    session_dates: dict[tuple[str, int], datetime.date] = {}
    for record in records:
        key, number, date = record[0], int(record[2]), record[3]
        first.setdefault(key, record)
        instruments[key].add(record[4])
        raters[key].add(record[5])
        last_dates[key] = max(last_dates.get(key, date), date)
        session_dates.setdefault((key, number), date)

    # Clients: the new ones inserted; the age band of every client involved.
    new_clients = set(plan.new_clients)
    client_rows: dict[str, dict] = {}
    for record in first.values():
        code = record[1]
        if code in new_clients and code not in client_rows:
            therapist, team, age_band = record[9], record[10], record[11]
            client_rows[code] = {
                "display_code": code,
                "public_id": new_public_id(),
                "therapist_id": int(therapist),
                "team_id": None if pd.isna(team) else int(team),
                "age_band": age_band,
                "name": record[13],
            }
    _insert(Client, list(client_rows.values()), agency_id=agency.pk, birth_year=None)
    client_pks = dict(plan.existing_clients)
    client_pks.update(
        _pks(Client, [row["public_id"] for row in client_rows.values()], "display_code")
    )
    age_bands = {code: row["age_band"] for code, row in client_rows.items()}
    reused = sorted({record[1] for record in first.values()} - set(client_rows))
    for start in range(0, len(reused), 5000):
        age_bands.update(
            Client.objects.filter(
                agency=agency, display_code__in=reused[start : start + 5000]
            ).values_list("display_code", "age_band")
        )

    # New episodes, with their summaries computed from the rows in memory.
    scored: dict[str, list[_Scored]] = defaultdict(list)
    for key, _code, number, date, instrument, rater, items, total, total_only, *_ in records:
        if rater == "client" and key not in plan.existing_episodes:
            scored[key].append(
                _Scored(
                    _SessionStub(int(number), date), instrument, rater, items, total, total_only
                )
            )
    episode_rows: dict[str, dict] = {}
    summaries = {}
    for key in plan.new_episodes:
        record = first[key]
        closed = record[12] in Ending.values
        outcome, alliance = _instruments(instruments[key], record[11])
        row = {
            "public_id": new_public_id(),
            "client_id": client_pks[record[1]],
            "start_date": record[3],
            "end_date": last_dates[key] if closed else None,
            "ending": record[12] if closed else "",
            "outcome_instrument": outcome,
            "alliance_instrument": alliance,
            "raters": sorted(raters[key] - {"client"}),
        }
        stub = _EpisodeStub(outcome, alliance, _ClientStub(age_bands[record[1]]), agency.pk)
        summaries[key] = _summarise(stub, scored[key], row)
        episode_rows[key] = row
    _insert(Episode, list(episode_rows.values()), agency_id=agency.pk)
    by_public_id = _pks(Episode, [row["public_id"] for row in episode_rows.values()], "public_id")
    episode_pks = dict(plan.existing_episodes)
    episode_pks.update({key: by_public_id[row["public_id"]] for key, row in episode_rows.items()})
    _insert(
        ImportedEpisode,
        [{"source_key": key, "episode_id": episode_pks[key]} for key in plan.new_episodes],
        agency_id=agency.pk,
    )

    # Sessions (new ones only), then administrations and the new episodes' current alerts.
    earlier = [episode_pks[key] for key in first if key in plan.existing_episodes]
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
            for (key, number), date in session_dates.items()
            if (episode_pks[key], number) not in existing_sessions
        ],
        agency_id=agency.pk,
        attendance=Attendance.ATTENDED,
    )
    session_ids = _session_ids(agency, [episode_pks[key] for key in first])
    _insert(
        AdministrationRow,
        [
            {
                "public_id": new_public_id(),
                "episode_id": episode_pks[key],
                "session_id": session_ids[(episode_pks[key], int(number))],
                "instrument": instrument,
                "rater": rater,
                "items": items,
                "total": float(total),
                "total_only": bool(total_only),
                "idempotency_key": natural_key(key, int(number), instrument, rater),
                "rater_relationship": record[14],
            }
            for record in records
            for key, _code, number, _date, instrument, rater, items, total, total_only in [
                record[:9]
            ]
        ],
        agency_id=agency.pk,
        entry_mode=EntryMode.IMPORT,
        entered_by_id=actor.pk if getattr(actor, "is_authenticated", False) else None,
    )
    _insert(
        Alert,
        [
            {
                "episode_id": episode_pks[key],
                "session_number": alert.session_number,
                "code": alert.code,
                "severity": alert.severity,
                "reason": str(alert.reason),
            }
            for key, feedback in summaries.items()
            for alert in {(a.session_number, a.code): a for a in feedback.signals.alerts}.values()
        ],
        agency_id=agency.pk,
    )
    if earlier:
        for episode in Episode.objects.filter(pk__in=earlier).select_related("client"):
            # Episodes imported before that gain rows: the care service recomputes them.
            refresh_episode_summary(episode)


@dataclass(slots=True)
class _SessionStub:
    number: int
    date: datetime.date
    attendance: str = Attendance.ATTENDED


@dataclass(slots=True)
class _ClientStub:
    age_band: str


@dataclass(slots=True)
class _EpisodeStub:
    outcome_instrument: str
    alliance_instrument: str
    client: _ClientStub
    agency_id: int  # the agency's active ETR model decides the zones


@dataclass(slots=True)
class _Scored:
    """What the science core reads of an administration (lighter than a model instance)."""

    session: _SessionStub
    instrument: str
    rater: str
    items: dict
    total: float
    total_only: bool


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
            agency=agency, episode_id__in=chunk
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
    getters = []
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


def _summarise(episode: _EpisodeStub, administrations: list[_Scored], row: dict):
    """Fill ``row`` with the summary ``care.services.refresh_episode_summary`` would store."""
    feedback = episode_feedback(episode, administrations)
    dates = {a.session.number: a.session.date for a in administrations}
    row["session_count"] = len(dates)
    row["last_session_date"] = max(dates.values(), default=None)
    outcome = feedback.outcome
    row["intake_total"] = outcome[0][1] if outcome else None
    row["last_outcome_session"], row["last_outcome_total"] = (
        outcome[-1] if outcome else (None, None)
    )
    row["zone"] = feedback.signals.latest_colour if outcome else Zone.NONE
    alliance = feedback.alliance
    row["last_alliance_total"] = alliance[-1].total if alliance else None
    row["alliance_flag"] = feedback.signals.latest_alliance_colour if alliance else Zone.NONE
    return feedback


def _instruments(codes: set[str], age_band: str) -> tuple[str, str]:
    outcome = next(c for c in sorted(codes) if _kind(c) in ("outcome", "symptom"))
    alliance = next((c for c in sorted(codes) if _kind(c) == "alliance"), None)
    if alliance is None:
        from alliance.care.models import FORMS_BY_AGE_BAND

        alliance = FORMS_BY_AGE_BAND.get(age_band, ("ors", "srs"))[1]
    return outcome, alliance
