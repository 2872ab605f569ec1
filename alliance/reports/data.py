"""The one reader of the administrations table from the database, in two modes.

* **Frame** (``administrations_frame``, ``report_data``): the whole table in the science core's
  format (``alliance.science.table``) for the reports and the ETR refit. Three queries (episodes,
  administrations, their sessions), joined by integer keys in numpy, and vectorized pandas to
  assemble; no Python loop per row. Ids are database keys as text.
* **Stream** (``administration_stream``): the same administrations, any fields of them, as rows
  read in chunks from a server-side cursor (PostgreSQL) or ``fetchmany`` (SQLite), in the order of
  an episode's history. The exports (CSV and FHIR) use it, so their memory stays bounded however
  many rows an agency has.

Both modes select the rows with ``administration_queryset``: the agency's administrations of the
given episodes, optionally of some instruments.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, F, QuerySet, Subquery
from django.utils import timezone

from alliance.care.dates import EARLIEST_DATE, latest_date
from alliance.care.models import Administration, Episode, Session
from alliance.care.visibility import visible_episodes
from alliance.science.effectiveness import ALLIANCE_FOR_OUTCOME
from alliance.science.instruments import all_instruments
from alliance.science.table import EPISODE_COLUMNS, REQUIRED_COLUMNS

EPISODE_FIELDS = (
    "pk",
    "client_id",
    "client__therapist_id",
    "client__team_id",
    "client__age_band",
    "ending",
)
ADMINISTRATION_FIELDS = ("episode_id", "session_id", "instrument", "rater", "total")
SESSION_FIELDS = ("pk", "number", "date")
# The streaming mode's order: each episode's history, session by session.
STREAM_ORDER = ("episode_id", "session__number", "instrument", "rater")
# Rows per round trip in the streaming mode: few queries, yet little memory.
STREAM_CHUNK = 5000
# The science core's table: its required columns, then the per-episode ones.
FRAME_COLUMNS = REQUIRED_COLUMNS + EPISODE_COLUMNS


@dataclass(frozen=True)
class ReportFilter:
    """What a report is about. Empty fields mean "all"; dates bound the episode's start date."""

    team_id: int | None = None
    therapist_id: int | None = None
    age_band: str = ""
    start: datetime.date | None = None
    end: datetime.date | None = None
    instrument: str = "ors"
    closed_only: bool = False

    def instruments(self) -> tuple[str, ...]:
        """The outcome instrument and the alliance scale paired with it."""
        paired = ALLIANCE_FOR_OUTCOME.get(self.instrument)
        return (self.instrument, paired) if paired else (self.instrument,)


def outcome_instruments() -> list[tuple[str, str]]:
    return [(i.code, i.name) for i in all_instruments() if i.kind in ("outcome", "symptom")]


def scoped_episodes(user, report_filter: ReportFilter) -> QuerySet[Episode]:
    """The episodes a report covers: the user's visible episodes narrowed by the filter."""
    episodes = visible_episodes(user)
    if report_filter.team_id is not None:
        episodes = episodes.filter(client__team_id=report_filter.team_id)
    if report_filter.therapist_id is not None:
        episodes = episodes.filter(client__therapist_id=report_filter.therapist_id)
    if report_filter.age_band:
        episodes = episodes.filter(client__age_band=report_filter.age_band)
    if report_filter.start is not None:
        episodes = episodes.filter(start_date__gte=report_filter.start)
    if report_filter.end is not None:
        episodes = episodes.filter(start_date__lte=report_filter.end)
    if report_filter.closed_only:
        episodes = episodes.filter(end_date__isnull=False)
    return episodes


@dataclass(frozen=True)
class ReportData:
    """A report's administrations table and the scope it was read for."""

    frame: pd.DataFrame
    agency_id: int | None  # None when the scope holds no episode
    whole_agency: bool  # the scope is every episode of the agency (so the agency alone selects)
    # Administrations left out because their session's date is outside the plausible range
    # (alliance.care.dates: 1900 to a year from today), e.g. a date written into the database
    # by hand: the report is drawn without them and says how many there were.
    left_out: int = 0


def administrations_frame(
    episodes: QuerySet[Episode], instruments: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """The administrations of ``episodes`` as a science-core table (columns ``FRAME_COLUMNS``).

    ``instruments`` restricts the rows (e.g. ORS and SRS for an ORS report); None keeps all.
    Text columns are pandas categoricals (the science core uses their codes directly).
    """
    return report_data(episodes, instruments).frame


def report_data(
    episodes: QuerySet[Episode], instruments: tuple[str, ...] | None = None
) -> ReportData:
    """``administrations_frame`` with the agency and whether the scope is the whole agency."""
    episode_columns = fetch_columns(episode_queryset(episodes), EPISODE_FIELDS, coded=True)
    if not len(episode_columns["pk"]):
        return ReportData(_empty(), None, False)
    agency_id, agency_episodes = _agency_of(int(episode_columns["pk"][0]))
    # When the scope is the whole agency (an admin's unfiltered report) the agency condition
    # alone selects the rows, which spares the database a semi-join over every episode.
    whole_agency = len(episode_columns["pk"]) == agency_episodes
    scope = None if whole_agency else _narrow_scope(episodes, episode_columns["pk"])
    rows = fetch_columns(
        administration_queryset(scope, agency_id, instruments), ADMINISTRATION_FIELDS
    )
    # Only rows of the visible episodes, whatever the query returned (cheap, and it keeps the
    # scope exact even if episodes were added between the queries).
    episode = positions_of(episode_columns["pk"], rows["episode_id"])
    rows["episode"] = episode
    rows = _kept(rows, episode >= 0)
    if not len(rows["episode_id"]):
        return ReportData(_empty(), agency_id, whole_agency)
    # The session number and date come from a query of their own (read as one text: many narrow
    # rows), joined here on the session id: cheaper than a hash join of every administration to
    # its session in the database, which spills to disk at the default work_mem
    # (docs/performance.md). Sessions are read after the administrations, so each row's session
    # is there unless it was deleted meanwhile (and its administrations with it): such rows are
    # left out.
    sessions = fetch_columns(session_queryset(scope, agency_id), SESSION_FIELDS)
    session = positions_of(sessions["pk"], rows["session_id"])
    left_out = int((session < 0).sum())
    rows = _kept(rows, session >= 0)
    session = session[session >= 0]
    rows["session__number"] = sessions["number"][session]
    rows["session__date"] = sessions["date"][session]
    if not len(rows["episode_id"]):
        return ReportData(_empty(), agency_id, whole_agency, left_out)
    return ReportData(_assemble(episode_columns, rows), agency_id, whole_agency, left_out)


def positions_of(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each of ``values``, the position of the same integer in ``keys`` (unique), else -1."""
    keys = np.asarray(keys, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    if not len(keys) or not len(values):
        return np.full(len(values), -1, dtype=np.int64)
    low, high = int(keys.min()), int(keys.max())
    if high - low < 4 * len(keys) + 1024:
        # Database ids are dense: one array indexed by id is the fastest lookup.
        lookup = np.full(high - low + 1, -1, dtype=np.int64)
        lookup[keys - low] = np.arange(len(keys), dtype=np.int64)
        inside = (values >= low) & (values <= high)
        result = np.full(len(values), -1, dtype=np.int64)
        result[inside] = lookup[values[inside] - low]
        return result
    order = np.argsort(keys, kind="stable")
    at = np.minimum(np.searchsorted(keys, values, sorter=order), len(keys) - 1)
    found = keys[order[at]] == values
    return np.where(found, order[at], -1).astype(np.int64)


def _kept(rows: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    if keep.all():
        return rows
    return {field: values[keep] for field, values in rows.items()}


def episode_queryset(episodes: QuerySet[Episode]):
    # Joined tables repeat the agency condition so that a Citus cluster routes the query to one
    # shard (docs/scaling.md); on one PostgreSQL it is a no-op the planner folds away.
    return episodes.filter(client__agency_id=F("agency_id")).order_by().values_list(*EPISODE_FIELDS)


EpisodeScope = QuerySet[Episode] | list[int] | None


def _narrow_scope(episodes: QuerySet[Episode], ids: np.ndarray) -> EpisodeScope:
    """How the next queries select a scope narrower than the agency.

    On PostgreSQL, by the episode ids just read rather than the visibility subquery: with stale
    statistics (right after an import) it planned that subquery as a nested loop per
    administration (13 s for 2,000 rows in a browser test); an id list is a hashed lookup.
    SQLite limits the number of bound values and plans the subquery well: it keeps it.
    """
    if connection.vendor == "postgresql":
        return ids.astype(np.int64).tolist()
    return episodes


def _of_episodes(queryset: QuerySet, episodes: EpisodeScope) -> QuerySet:
    """``queryset`` narrowed to ``episodes`` (a queryset or episode ids; None: no narrowing)."""
    if episodes is None:
        return queryset
    if isinstance(episodes, QuerySet):
        return queryset.filter(episode__in=episodes.order_by().values("pk"))
    return queryset.filter(episode_id__in=episodes)


def administration_queryset(
    episodes: EpisodeScope,
    agency_id: int,
    instruments: tuple[str, ...] | None,
    fields: Sequence[str] = ADMINISTRATION_FIELDS,
):
    """The agency's administrations (of ``episodes`` when given) as ``fields``, unordered.

    The frame mode's default fields join nothing (its sessions come from a query of their own).
    """
    administrations = _of_episodes(Administration.objects.filter(agency_id=agency_id), episodes)
    if instruments is not None:
        administrations = administrations.filter(instrument__in=instruments)
    return administrations.order_by().values_list(*fields)


def administration_stream(
    episodes: QuerySet[Episode] | None,
    agency_id: int,
    fields: Sequence[str],
    *,
    instruments: tuple[str, ...] | None = None,
    chunk_size: int = STREAM_CHUNK,
) -> Iterator[tuple]:
    """The streaming mode: the administrations of ``episodes`` as tuples of ``fields``.

    ``episodes`` is a visibility-scoped queryset (None: the whole agency). Rows come in
    ``STREAM_ORDER``, ``chunk_size`` at a time from the database, never all in memory.
    """
    queryset = administration_queryset(episodes, agency_id, instruments, fields)
    return queryset.order_by(*STREAM_ORDER).iterator(chunk_size=chunk_size)


def session_queryset(episodes: EpisodeScope, agency_id: int, today: datetime.date | None = None):
    """The agency's sessions (of ``episodes`` when given): id, number and date.

    Only sessions with a plausible date (``alliance.care.dates``): a date such as year 1 or 9999
    cannot reach the science core (nor overflow its nanosecond dates).
    """
    latest = latest_date(today or timezone.localdate())
    sessions = _of_episodes(
        Session.objects.filter(agency_id=agency_id, date__range=(EARLIEST_DATE, latest)), episodes
    )
    return sessions.order_by().values_list(*SESSION_FIELDS)


def _agency_of(episode_pk: int) -> tuple[int, int]:
    """The agency of the report and its number of episodes (one query).

    Every report is within one agency (visible_episodes filters by it); naming it lets the
    database (and Citus) keep the administrations query on the agency's shard.
    """
    agency_id = Episode.objects.filter(pk=episode_pk).values_list("agency_id", flat=True)
    row = (
        Episode.objects.filter(agency_id=Subquery(agency_id[:1]))
        .values("agency_id")
        .annotate(n=Count("pk"))
        .values_list("agency_id", "n")
        .order_by()
    )
    return row[0]


# Text columns the database may return as NULL or empty (read as missing, never as "nan").
_NULLABLE_TEXT = {"ending"}
# Integer columns the database may return as NULL (read as missing; ids become text).
_NULLABLE_IDS = {"client__team_id"}
# Short codes repeated on every row: returned as categoricals.
_CODES = {"instrument", "rater"}
_NUMERIC = {
    "pk": "int64",
    "client_id": "int64",
    "client__therapist_id": "int64",
    "episode_id": "int64",
    "session_id": "int64",
    "number": "int64",
    "total": "float64",
}
# Date fields: read as datetime64.
_DATES = {"date"}


def fetch_columns(
    queryset, fields: tuple[str, ...], *, coded: bool = False
) -> dict[str, np.ndarray]:
    """The rows of a ``values_list`` queryset as one array per field (rows in any order).

    On PostgreSQL the numbers come packed (``_postgres_columns``); elsewhere (SQLite) the rows
    come through ``values_list``. ``coded`` (PostgreSQL only, for ``_assemble``): text columns
    come as categoricals and nullable ids as integers with -1 for missing, so that no per-row
    Python string is made; the values are the same.
    """
    if connection.vendor == "postgresql":
        return _postgres_columns(queryset, fields, coded=coded)
    rows = list(queryset)
    if not rows:
        return {field: np.array([], dtype=object) for field in fields}
    columns = list(zip(*rows, strict=True))
    result: dict[str, np.ndarray] = {}
    for field, values in zip(fields, columns, strict=True):
        if field in _NUMERIC:
            result[field] = np.asarray(values, dtype=_NUMERIC[field])
        elif field in _DATES:
            result[field] = pd.to_datetime(pd.Series(values, dtype="object")).to_numpy()
        else:
            result[field] = np.asarray(values, dtype=object)
    return result


def _packed(name: str, field: str) -> tuple[str, str]:
    """How a number column travels: its binary form (an SQL expression) and numpy's dtype."""
    if field in _DATES:  # days since 1970-01-01
        return f"int4send(({name} - DATE '1970-01-01')::int4)", ">i4"
    if field == "total":
        return f"float8send({name}::float8)", ">f8"
    if field in _NULLABLE_IDS:
        return f"int8send(coalesce({name}, -1)::int8)", ">i8"
    return f"int8send({name}::int8)", ">i8"


def _postgres_columns(
    queryset, fields: tuple[str, ...], coded: bool = False
) -> dict[str, np.ndarray]:
    """The rows as a few values per group of text columns, not a message per row.

    The query groups the rows by their text columns (instrument and rater, or age band and
    ending: a handful of groups) and returns, per group, each number column as one ``bytea`` of
    packed big-endian binary values (``string_agg`` of ``int8send``/``float8send``), in binary
    format: numpy reads them with ``frombuffer``. All the aggregates of a group see its rows in the
    same order, so the columns line up. Compared with CSV by COPY (one protocol message, parse
    and Python call per row, then pandas' text parser) this moves a third of the bytes and does no
    per-row work in Python (docs/performance.md).
    """
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. ``.none()``: nothing to ask the database
        return {field: np.array([], dtype=object) for field in fields}
    names = [f"c{i}" for i in range(len(fields))]
    numeric = _NUMERIC.keys() | _DATES | _NULLABLE_IDS
    texts = [n for n, f in zip(names, fields, strict=True) if f not in numeric]
    numbers = [(n, f) for n, f in zip(names, fields, strict=True) if n not in texts]
    packed = [_packed(name, field) for name, field in numbers]
    select = [*(f"{name}::text" for name in texts), "count(*)"]
    select += [f"string_agg({expression}, ''::bytea)" for expression, _ in packed]
    # The ORM's own query wrapped in fixed expressions; every value stays a bound parameter.
    query = f"SELECT {', '.join(select)} FROM ({sql}) AS q({', '.join(names)})"  # nosec B608
    if texts:
        query += f" GROUP BY {', '.join(texts)}"
    with connection.cursor() as cursor:
        groups = _binary_rows(cursor, cursor.mogrify(query, params))
    groups = [row for row in groups if row[len(texts)]]
    if not groups:
        return {field: np.array([], dtype=object) for field in fields}
    counts = np.array([row[len(texts)] for row in groups], dtype=np.int64)
    group_of_row = np.repeat(np.arange(len(groups)), counts)
    result: dict[str, Any] = {}  # numpy arrays, and categoricals for the codes
    for i, name in enumerate(texts):
        field = fields[names.index(name)]
        values = [row[i] for row in groups]
        if field in _CODES:
            categories, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
            result[field] = pd.Categorical.from_codes(codes[group_of_row], pd.Index(categories))
            continue
        if field in _NULLABLE_TEXT:
            values = [np.nan if value in ("", None) else value for value in values]
        if coded:
            # The group's value for each of its rows as a code: the categories are the
            # distinct values in sorted order, as pd.Categorical(values) makes them.
            known = [value for value in values if value is not None and value == value]
            distinct = sorted(set(known))
            code_of = {value: code for code, value in enumerate(distinct)}
            group_codes = np.array([code_of.get(value, -1) for value in values], dtype=np.int64)
            result[field] = pd.Categorical.from_codes(
                group_codes[group_of_row], pd.Index(distinct, dtype="str")
            )
            continue
        result[field] = np.asarray(values, dtype=object)[group_of_row]
    for j, ((_name, field), (_, dtype)) in enumerate(zip(numbers, packed, strict=True)):
        column = len(texts) + 1 + j
        array = np.concatenate([np.frombuffer(row[column], dtype=dtype) for row in groups])
        if field in _DATES:
            result[field] = array.astype("datetime64[D]").astype("datetime64[ns]")
        elif field in _NULLABLE_IDS and coded:
            result[field] = array.astype(np.int64)  # -1: missing
        elif field in _NULLABLE_IDS:
            ids = array.astype(np.int64)
            text = ids.astype(str).astype(object)
            text[ids < 0] = np.nan
            result[field] = text
        else:
            result[field] = array.astype(_NUMERIC[field])
    return {field: result[field] for field in fields}


def _binary_rows(cursor, sql: str | bytes) -> list[tuple]:
    """The rows of ``sql`` (parameters already bound) in binary format: ``bytea`` as bytes.

    Django's cursor binds parameters on the client (no limit on their number, which a long list
    of episode ids needs) and such a cursor cannot ask for binary results; a second psycopg
    cursor on the same connection runs the bound text. It is logged like any other query.
    """
    import psycopg  # PostgreSQL only

    if isinstance(sql, bytes):
        sql = sql.decode()
    debug = getattr(cursor, "debug_sql", None)  # set when Django records queries
    logged = debug(sql) if debug is not None else contextlib.nullcontext()
    with logged, psycopg.Cursor(cursor.db.connection) as binary:
        binary.execute(sql, binary=True)
        return binary.fetchall()


def _empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="string") for column in FRAME_COLUMNS}).astype(
        {"session_number": "int64", "total": "float64", "session_date": "datetime64[ns]"}
    )


def _categorical(values: np.ndarray) -> pd.Categorical:
    """Codes of the values, with the categories as text (the table's ids are text)."""
    if isinstance(values, pd.Categorical):  # coded by fetch_columns: categories are text
        return values
    if values.dtype.kind == "i":
        # Integer ids: pd.Categorical(values).rename_categories(str), without hashing: the
        # categories are the distinct ids in numeric order, as text.
        ids, codes = np.unique(values, return_inverse=True)
        return pd.Categorical.from_codes(codes, pd.Index(ids.astype(str), dtype="str"))
    categories = pd.Categorical(values)
    return categories.rename_categories(str)


def _nullable_ids(ids: np.ndarray) -> pd.Categorical:
    """Integer ids with -1 for missing as text categories in text order, as
    ``pd.Categorical`` of the ids as text (with missing values) makes them."""
    present = ids >= 0
    distinct, codes = np.unique(ids[present], return_inverse=True)
    text = distinct.astype(str)
    order = np.argsort(text, kind="stable")  # text order: "10" before "9"
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    result = np.full(len(ids), -1, dtype=np.int64)
    result[present] = rank[codes]
    return pd.Categorical.from_codes(result, pd.Index(text[order], dtype="str"))


def _assemble(episodes: dict[str, np.ndarray], rows: dict[str, np.ndarray]) -> pd.DataFrame:
    """Join each administration to its episode by position; ids and codes become categoricals."""
    position = rows["episode"]  # each row's episode, by position in ``episodes``

    def per_episode(field: str, values: Any = None) -> pd.Categorical:
        categories = _categorical(episodes[field] if values is None else values)
        # The episodes' own dtype: its categories (100,000 ids) are not checked again.
        return pd.Categorical.from_codes(categories.codes[position], dtype=categories.dtype)

    team: Any = episodes["client__team_id"]
    if isinstance(team, np.ndarray) and team.dtype.kind == "i":  # coded: -1 is missing
        team = _nullable_ids(team)
    endings: Any = episodes["ending"]
    if not isinstance(endings, pd.Categorical):
        endings = np.asarray(
            [None if e in ("", None) or e != e else e for e in endings], dtype=object
        )
    return pd.DataFrame(
        {
            "client_id": per_episode("client_id"),
            "episode_id": per_episode("pk"),
            "therapist_id": per_episode("client__therapist_id"),
            "team_id": per_episode("client__team_id", team),
            "session_number": rows["session__number"].astype(np.int64),
            "session_date": pd.to_datetime(rows["session__date"]),
            "instrument": pd.Categorical(rows["instrument"]),
            "rater": pd.Categorical(rows["rater"]),
            "total": rows["total"].astype(np.float64),
            "age_band": per_episode("client__age_band"),
            "ending": per_episode("ending", endings),
        }
    )
