"""The administrations table: one row per administration of an instrument.

This is the exchange format between the simulator, the statistics commands, the web app's
research export and the bulk import. Columns:

required
    client_id       pseudonymous client identifier (text)
    episode_id      episode identifier, unique across clients (text)
    therapist_id    therapist identifier (text)
    session_number  1-based session number within the episode (integer)
    session_date    ISO date of the session (YYYY-MM-DD)
    instrument      instrument code: ``ors``, ``srs``, ``cors``, ``csrs``, ``gsrs``, ``phq9``, ...
    rater           ``client`` or a collateral role (``parent``, ``partner``, ``teacher``, ...)
    total           total score (number)
optional
    item_1 .. item_N  item scores, in the instrument's item order
    team_id         team identifier
    age_band        ``young_child``, ``child``, ``adolescent`` or ``adult`` (instruments.age_bands)
    ending          ``planned`` or ``unilateral`` once the episode is closed, empty while open

``episode_outcomes`` is the one per-episode table (intake, final, change...); it and the other
science modules work on ``index_rows(frame)``, the table with its episodes as integer codes.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.csv_cells import PendingCells, has_quote, read_cells
from alliance.science.instruments import Instrument, UnknownInstrumentError, get_instrument
from alliance.science.instruments.age_bands import AGE_BAND_NAMES

REQUIRED_COLUMNS: tuple[str, ...] = (
    "client_id",
    "episode_id",
    "therapist_id",
    "session_number",
    "session_date",
    "instrument",
    "rater",
    "total",
)
EPISODE_COLUMNS: tuple[str, ...] = ("team_id", "age_band", "ending")
ENDINGS: tuple[str, ...] = ("planned", "unilateral")
AGE_BANDS: tuple[str, ...] = AGE_BAND_NAMES

_TEXT_COLUMNS = ("client_id", "episode_id", "therapist_id", "instrument", "rater") + EPISODE_COLUMNS


class TableError(ValueError):
    """The administrations table is malformed; the message names the column or row."""


PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")


def read_administrations(
    source: str | os.PathLike[str] | IO[str],
    *,
    drop_duplicates: bool = False,
    pending: PendingCells | None = None,
) -> pd.DataFrame:
    """Read and validate an administrations table (CSV, or Parquet by its extension ``.parquet``
    or ``.pq``); errors name the file, row and column. Both are validated the same way.

    ``pending``: ``csv_cells.start_reading(source)``, when the caller started splitting the file
    before importing this module (the cells are then not read a second time)."""
    name = _source_name(source)
    try:
        if isinstance(source, str | os.PathLike) and name.lower().endswith(PARQUET_SUFFIXES):
            frame = _read_parquet(source, name)
        else:
            frame = _read_csv(source, pending)
    except FileNotFoundError as error:
        raise TableError(f"file not found: {error.filename or name}") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise TableError(f"{name}: cannot read the administrations table: {error}") from error
    try:
        return validate_administrations(frame, drop_duplicates=drop_duplicates)
    except TableError as error:
        raise TableError(f"{name}: {error}") from error


def _read_csv(
    source: str | os.PathLike[str] | IO[str], pending: PendingCells | None = None
) -> pd.DataFrame:
    """The CSV as pandas' C parser reads it in one pass (``low_memory=False``).

    Text columns (and the date) are categoricals: identifiers repeat across many rows, group-bys
    on codes are much faster, a categorical holds each distinct text once, and each distinct
    date is then parsed once (see _date_column). A file on disk is read by _read_csv_arrow when
    it can be, into the very same frame with about half the peak memory; anything else
    (a text stream, a compressed file, quoting, ragged rows...) by pandas.
    """
    if isinstance(source, str | os.PathLike):
        if pending is not None and pending.path == os.fspath(source):
            frame = _read_csv_arrow(source, pending)
        else:
            frame = _read_csv_arrow(source)
        if frame is not None:
            return frame
    return pd.read_csv(source, dtype=_csv_dtypes(), keep_default_na=True, low_memory=False)


def _csv_dtypes() -> dict[str, str]:
    return dict.fromkeys((*_TEXT_COLUMNS, "session_date"), "category")


def _read_csv_arrow(
    path: str | os.PathLike[str], pending: PendingCells | None = None
) -> pd.DataFrame | None:
    """The frame ``pd.read_csv`` gives for ``path``, or None where this reader does not apply.

    pandas' C parser holds a token for every cell of the file until it has converted every
    column: its peak is about 3.5x the CSV. Here Arrow's reader splits the file into cells and
    dictionary-encodes each column (an int32 per cell and each distinct text once:
    ``csv_cells.read_cells``, or ``pending`` when that was started already), then each
    column's distinct texts alone go through pandas' own parser: the same conversion
    (int, float, bool, text; categories for the text columns, in the same order), as pandas
    infers a column's type from the set of its texts and whether one is missing. The column is
    then those values taken by the codes, and its Arrow codes are freed.

    Only for a ``.csv`` file without any double quote (so that both split fields identically:
    on commas and line ends), with named, distinct headers; a file Arrow refuses (a ragged row,
    invalid UTF-8, no rows) goes to pandas, which names the problem as before.
    """
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    # A pool that gives freed memory back to the system (Arrow's default one keeps it): the
    # file's cells are freed column by column below.
    default_pool = pa.default_memory_pool()
    pool = _returning_pool(pa)
    pa.set_memory_pool(pool)
    try:
        table = pending.result() if pending is not None else read_cells(path, pool)
        # The columns out of the table, so that each is freed once converted (a reference to
        # the table kept here would hold every column to the end: +60 MB at a million rows).
        cells = None if table is None else {name: table.column(name) for name in table.column_names}
        del table
        columns = _arrow_columns(cells, pool) if cells is not None else None
    finally:
        pa.set_memory_pool(default_pool)
        pool.release_unused()
    if columns is None:
        return None
    return _frame_of(columns)


def _frame_of(columns: dict[str, Any]) -> pd.DataFrame:
    """A frame holding each column's own array: not stacked into one block per type (a copy of
    every number column at once), so that a caller dropping columns frees their memory; and
    not copied either (assigning a bare array to a column copies it, ~0.1 s for a million
    rows; a Series wrapping it is taken as it is)."""
    index = pd.RangeIndex(len(next(iter(columns.values()))))
    frame = pd.DataFrame(index=index)
    for name, values in columns.items():
        frame[name] = pd.Series(values, index=index, copy=False)
    return frame


def _returning_pool(pa: Any) -> Any:
    """An Arrow memory pool that gives what is freed back to the system: the C library's
    (release_unused trims it). jemalloc without decay gave a peak ~20 MB lower on a million rows
    but cost 0.3-0.5 s more CPU (each freed page given back and faulted in again); Arrow's
    default (mimalloc) keeps what it frees."""
    return pa.system_memory_pool()


def _arrow_columns(cells: dict[str, Any], pool: Any) -> dict[str, Any] | None:
    """Each of ``read_cells``' columns converted as pandas converts it (None when one of them
    holds a double quote or does not convert line by line); ``cells`` is emptied as it goes."""
    dtypes = _csv_dtypes()
    columns: dict[str, Any] = {}
    for name in list(cells):
        column = cells.pop(name).unify_dictionaries()
        values = _convert_like_pandas(column, name, dtypes.get(name))
        del column
        if values is None:
            return None
        columns[name] = values
        pool.release_unused()  # hand the column's Arrow memory back before the next one grows
    return columns


def _convert_like_pandas(column: Any, name: str, dtype: str | None) -> Any:
    """One dictionary-encoded Arrow column as pandas' C parser converts it (``dtype`` as given
    to read_csv), or None when its distinct texts hold a double quote or cannot stand one per
    line."""
    import pyarrow as pa
    import pyarrow.compute as pa_compute

    words = column.chunk(0).dictionary
    if has_quote(words):
        return None
    missing = column.null_count > 0
    indices = pa.chunked_array([chunk.indices for chunk in column.chunks]).combine_chunks()
    if missing:
        indices = pa_compute.fill_null(indices, len(words))
    codes = indices.to_numpy()
    if dtype == "category" and len(words) > 1 and not _converts(words[0].as_py()):
        # Texts that stay texts (one of them is no number and no boolean, so pandas converts
        # none): the categories are the texts in order, without a parser round (100,000 ids).
        return _text_categorical(words, codes, pa_compute)
    # Each distinct text on a line of its own, then a missing one (NA) if there is one, through
    # the same parser; a missing cell points at that last line.
    text = "\n".join([name, *words.to_pylist(), *(["NA"] if missing else [])]) + "\n"
    kwargs: dict[str, Any] = {"dtype": {name: dtype}} if dtype else {}
    distinct = pd.read_csv(io.StringIO(text), keep_default_na=True, low_memory=False, **kwargs)
    if list(distinct.columns) != [name] or len(distinct) != len(words) + missing:
        return None  # a blank line (a text of spaces) was skipped: the lines do not match
    values = distinct[name]
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(
            values.cat.codes.to_numpy().take(codes), dtype=values.dtype, validate=False
        )
    if isinstance(values.dtype, np.dtype):
        return values.to_numpy().take(codes)
    return values.array.take(codes)


def _converts(word: str) -> bool:
    """Whether pandas would read ``word`` as a number or a boolean (then a categorical of
    such texts may get number or boolean categories)."""
    if word.strip().lower() in ("true", "false"):
        return True
    return not bool(
        pd.isna(pd.to_numeric(pd.Series([word], dtype=object), errors="coerce").iloc[0])
    )


def _text_categorical(words: Any, codes: npt.NDArray[Any], pa_compute: Any) -> pd.Categorical:
    """The categorical pandas makes of text cells: categories sorted, codes as narrow as
    pandas makes them; ``codes`` index ``words``, len(words) for a missing cell."""
    order = pa_compute.array_sort_indices(words).to_numpy()
    rank = np.empty(len(words) + 1, dtype=np.int64)
    rank[order] = np.arange(len(words))
    rank[-1] = -1
    width = np.int8 if len(words) < 127 else np.int16 if len(words) < 32767 else np.int32
    categories = _text_index(words.take(order))
    narrow = np.asarray(rank.astype(width).take(codes), dtype=width)
    return pd.Categorical.from_codes(narrow, categories=categories, validate=False)


def _text_index(texts: Any) -> pd.Index:
    """``pd.Index(texts.to_pylist())`` for an Arrow array of texts, without a Python string per
    text when pandas keeps texts in Arrow (its ``str`` type): 100,000 ids in ~7 ms, not ~40."""
    kind = pd.Index(texts[:1].to_pylist()).dtype  # the type pandas gives a list of texts
    if isinstance(kind, pd.StringDtype) and kind.storage == "pyarrow":
        return pd.Index(pd.array(texts, dtype=kind))
    return pd.Index(texts.to_pylist())


def _read_parquet(source: str | os.PathLike[str], name: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(source)
    except ImportError as error:
        raise TableError(
            f"{name}: reading Parquet needs pyarrow (pip install pyarrow), or export CSV"
        ) from error
    except (OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise TableError(f"{name}: cannot read the administrations table: {error}") from error


def _source_name(source: object) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<table>"))


def validate_administrations(frame: pd.DataFrame, *, drop_duplicates: bool = False) -> pd.DataFrame:
    """Check the required columns, coerce types and refuse impossible rows; returns a new frame.

    Refused, with the row (its line in the CSV file) and column named: non-numeric, non-finite
    or out-of-range totals and items (ranges from the instrument files; unknown instruments are
    only checked for finiteness), non-integer session numbers, and two rows for the same
    (episode, session, instrument, rater). Identical duplicates are dropped instead when
    ``drop_duplicates`` is true; conflicting ones are always refused.
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise TableError(
            "missing required column(s): "
            + ", ".join(missing)
            + f" (required: {', '.join(REQUIRED_COLUMNS)})"
        )
    # A shallow copy: pandas copies on write, so replacing columns below leaves the caller's intact.
    frame = frame.copy(deep=False)
    for column in _TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = _text_category(frame[column])
    frame["instrument"] = _lower_category(frame["instrument"])
    sessions = _numeric_column(frame, "session_number")
    _reject_rows(
        ~np.isfinite(sessions) | (sessions % 1 != 0),
        "column session_number must be a whole number",
        frame["session_number"],
    )
    frame["session_number"] = sessions.astype("int64")
    frame["total"] = _numeric_column(frame, "total", allow_missing=True).astype("float64")
    frame["session_date"] = _date_column(frame)
    for column in item_columns(frame.columns):
        frame[column] = _numeric_column(frame, column, allow_missing=True).astype("float64")
    _reject_rows(frame["session_number"] < 1, "column session_number must be 1 or more")
    if "ending" in frame.columns:
        _reject_rows(
            frame["ending"].notna() & ~frame["ending"].isin(ENDINGS),
            f"column ending must be one of {', '.join(ENDINGS)} or empty",
            frame["ending"],
        )
    _reject_impossible_scores(frame)
    return _checked_duplicates(frame, drop_duplicates)


def _reject_impossible_scores(frame: pd.DataFrame) -> None:
    """Infinite values anywhere, and totals or items outside their instrument's range."""
    items = item_columns(frame.columns)
    for column in ("total", *items):
        _reject_rows(
            np.isinf(frame[column].to_numpy()),
            f"column {column} must be a finite number",
            frame[column],
        )
    if not _any_outside(frame, items):
        return
    # Some row is outside: the loop below names the first one as it always has.
    codes = frame["instrument"].cat.codes.to_numpy()
    for position, code in enumerate(frame["instrument"].cat.categories):
        instrument = _known_instrument(str(code))
        if instrument is None:
            continue
        rows = codes == position
        _reject_outside(frame, rows, "total", instrument.total_min, instrument.total_max, code)
        for index, column in enumerate(items):
            if index < len(instrument.items):
                item = instrument.items[index]
                _reject_outside(frame, rows, column, item.min, item.max, code)
            else:
                _reject_rows(
                    rows & frame[column].notna().to_numpy(),
                    f"column {column} must be empty: {code} has {len(instrument.items)} items",
                    frame[column],
                )


def _any_outside(frame: pd.DataFrame, items: list[str]) -> bool:
    """Whether a total or item is outside its instrument's range, or an item is given beyond
    the instrument's items: each column checked once against per-row bounds looked up by the
    instrument's code (a loop per instrument and column made ~100 passes over the rows)."""
    instruments = [_known_instrument(str(c)) for c in frame["instrument"].cat.categories]
    codes = frame["instrument"].cat.codes.to_numpy()  # -1 (no instrument) picks the last entry
    for index, column in enumerate(("total", *items)):
        # One entry per category, then the bounds of a row without an instrument (code -1).
        bounds = [*(_bounds(instrument, index - 1) for instrument in instruments), _NO_BOUNDS]
        low = np.array([bound[0] for bound in bounds], dtype=float)
        high = np.array([bound[1] for bound in bounds], dtype=float)
        empty = np.array([bound[2] for bound in bounds], dtype=bool)
        values = frame[column].to_numpy()
        with np.errstate(invalid="ignore"):
            outside = (values < low[codes]) | (values > high[codes])
        if outside.any() or (empty[codes] & ~np.isnan(values)).any():
            return True
    return False


_NO_BOUNDS = (-math.inf, math.inf, False)


def _bounds(instrument: Instrument | None, item: int) -> tuple[float, float, bool]:
    """(low, high, must be empty) of item ``item`` (-1: the total) of ``instrument``."""
    if instrument is None:
        return _NO_BOUNDS
    if item < 0:
        return (instrument.total_min, instrument.total_max, False)
    if item < len(instrument.items):
        return (instrument.items[item].min, instrument.items[item].max, False)
    return (-math.inf, math.inf, True)


def _known_instrument(code: str) -> Instrument | None:
    try:
        return get_instrument(code)
    except UnknownInstrumentError:
        return None


def _reject_outside(
    frame: pd.DataFrame,
    rows: npt.NDArray[np.bool_],
    column: str,
    low: float,
    high: float,
    code: str,
) -> None:
    values = frame[column].to_numpy()
    with np.errstate(invalid="ignore"):
        outside = rows & ((values < low) | (values > high))
    _reject_rows(
        outside,
        f"column {column} must be between {low:g} and {high:g} for {code}",
        frame[column],
    )


DUPLICATE_KEY: tuple[str, ...] = ("episode_id", "session_number", "instrument", "rater")


def _checked_duplicates(frame: pd.DataFrame, drop_duplicates: bool) -> pd.DataFrame:
    """Refuse two rows for one (episode, session, instrument, rater); drop identical ones if asked."""
    repeated = _repeated_keys(frame)
    if not repeated.any():
        return frame
    identical = frame.duplicated(keep="first").to_numpy()
    conflicting = repeated & ~identical
    _reject_rows(
        conflicting,
        "two different rows for the same episode_id, session_number, instrument and rater",
    )
    if not drop_duplicates:
        _reject_rows(
            repeated,
            "the same administration twice (episode_id, session_number, instrument, rater);"
            " use --drop-duplicates to keep one",
        )
    return frame.loc[~repeated].reset_index(drop=True)


def _repeated_keys(frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """``frame.duplicated(subset=DUPLICATE_KEY)``, on one int64 key made of the columns' codes.

    Comparing one integer per row with its neighbour (after a stable sort when the table is not
    in key order) is several times cheaper than hashing four columns; missing values share a
    code, as they compare equal in ``duplicated``. Falls back to ``duplicated`` when the key
    would not fit in 63 bits.
    """
    key = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for column in DUPLICATE_KEY:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy().astype(np.int64) + 1
            size = len(values.cat.categories) + 1
        else:
            factorized, uniques = pd.factorize(values, use_na_sentinel=True)
            codes = factorized.astype(np.int64) + 1
            size = len(uniques) + 1
        span *= size
        if span >= 2**62:
            return np.asarray(frame.duplicated(subset=list(DUPLICATE_KEY), keep="first"))
        key = key * size + codes
    # A stable sort keeps equal keys in file order, so every one but the first is the repeat.
    # Tables come sorted by episode and session or nearly so, where the sort costs little.
    repeated = np.zeros(len(key), dtype=bool)
    if len(key) > 1 and bool(np.all(key[1:] >= key[:-1])):
        repeated[1:] = key[1:] == key[:-1]
        return repeated
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    repeated[order[1:][ordered[1:] == ordered[:-1]]] = True
    return repeated


def item_columns(columns: Iterable[str]) -> list[str]:
    """The item columns (``item_1`` ...) in item order."""
    found = [c for c in columns if c.startswith("item_") and c[5:].isdigit()]
    return sorted(found, key=lambda c: int(c[5:]))


def _text_category(values: pd.Series) -> pd.Series:
    """Text values as a categorical whose categories are strings (ids like 7 become "7")."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        if categories.dtype == object or pd.api.types.is_string_dtype(categories):
            return values
        return values.cat.rename_categories([str(c) for c in categories])
    return values.astype("string").astype("category")


def _lower_category(values: pd.Series) -> pd.Series:
    lowered = [str(c).lower() for c in values.cat.categories]
    if len(set(lowered)) == len(lowered):
        return values.cat.rename_categories(lowered)
    return values.astype("string").str.lower().astype("category")


def _numeric_column(frame: pd.DataFrame, column: str, allow_missing: bool = False) -> pd.Series:
    given = frame[column]
    if given.dtype.kind in "iuf":
        # Parsed as numbers already (a text cell would have made it text): only missing is bad.
        if not allow_missing:
            _reject_rows(given.isna(), f"column {column} must be a number", given)
        return given
    values = pd.to_numeric(given, errors="coerce")
    bad = values.isna() & frame[column].notna()
    if not allow_missing:
        bad = bad | frame[column].isna()
    _reject_rows(bad, f"column {column} must be a number", frame[column])
    return values


def _date_column(frame: pd.DataFrame) -> pd.Series:
    column = frame["session_date"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Read as a categorical: each distinct date is parsed once (a few thousand, not a million).
        parsed = pd.to_datetime(
            pd.Index(column.cat.categories.astype(object)), format="ISO8601", errors="coerce"
        )
        codes = column.cat.codes.to_numpy()
        dates = pd.Series(parsed.take(codes, allow_fill=True, fill_value=pd.NaT), index=frame.index)
    else:
        dates = pd.to_datetime(column, format="ISO8601", errors="coerce")
    _reject_rows(
        dates.isna(), "session_date must be an ISO date (YYYY-MM-DD)", frame["session_date"]
    )
    return dates


def _reject_rows(
    bad: pd.Series | npt.NDArray[np.bool_], problem: str, values: pd.Series | None = None
) -> None:
    """TableError naming the first bad row by its line in the CSV file (line 1 is the header)."""
    flags = np.asarray(bad, dtype=bool)
    if flags.any():
        row = int(np.flatnonzero(flags)[0])
        shown = f", not {values.iloc[row]!r}" if values is not None else ""
        raise TableError(f"row {row + 2}: {problem}{shown}")


def episode_outcomes(
    frame: pd.DataFrame, instrument: str = "ors", rater: str = "client"
) -> pd.DataFrame:
    """One row per episode with its intake (first score) and final (last score).

    Only rows of ``instrument`` rated by ``rater`` with a total count. Columns: ``client_id``,
    ``therapist_id``, ``intake``, ``final``, ``change`` (final - intake), ``n_scores``,
    ``first_session``, ``last_session``, ``first_date``, ``last_date``, ``days``, and the episode
    columns present in the table (``team_id``, ``age_band``, ``ending``: the first value given on
    any row of the episode). Indexed by episode_id (text), in order of first appearance. An episode
    counts for change statistics when ``n_scores >= 2``. Computed on integer codes, so a million
    rows take a fraction of a second; ``effectiveness.episode_table`` is this same function.
    """
    return episode_outcomes_of(index_rows(frame), instrument, rater)[0]


# ----- the table on integer codes ----------------------------------------------------------
@dataclass(frozen=True)
class CodedRows:
    """The administrations with their episodes factorized once.

    Comparing and grouping text columns of a million rows is what costs time in pandas, so every
    later step works on these integer codes and object arrays instead.
    """

    frame: pd.DataFrame
    episode: npt.NDArray[np.int64]  # episode code of each row (-1 when missing)
    episode_ids: npt.NDArray[np.object_]

    @cached_property
    def rater(self) -> CodedColumn:
        return coded_column(self.frame["rater"])

    @cached_property
    def first_row(self) -> npt.NDArray[np.int64]:
        """The first row of each episode code (rows without an episode excluded)."""
        first = np.full(len(self.episode_ids), len(self.episode), dtype=np.int64)
        with_episode = np.flatnonzero(self.episode >= 0)
        np.minimum.at(first, self.episode[with_episode], with_episode)
        return first

    def column(self, name: str) -> npt.NDArray[Any]:
        return self.frame[name].to_numpy()

    def take(self, name: str, positions: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """``column(name)[positions]`` without turning the whole column into an array first
        (a categorical of a million rows would become a million Python objects)."""
        return self.frame[name].take(positions).to_numpy()


@dataclass(frozen=True)
class CodedColumn:
    """A text column as integer codes (-1 when missing) into an object array of its values."""

    codes: npt.NDArray[np.integer[Any]]  # a categorical's own (narrow) codes, else intp
    values: npt.NDArray[np.object_]

    def code_of(self, value: str) -> int:
        """The code of ``value`` (-2, matching no row, when it does not occur)."""
        found = np.flatnonzero(self.values == value)
        return int(found[0]) if len(found) else -2


def coded_column(column: pd.Series) -> CodedColumn:
    # A categorical already holds the codes; anything else is factorized once (missing -> -1).
    if isinstance(column.dtype, pd.CategoricalDtype):
        # Its own codes (int8 for a few values): widening them would take 8 bytes a row.
        codes = column.cat.codes.to_numpy()
        return CodedColumn(codes, np.asarray(column.cat.categories, dtype=object))
    codes, uniques = pd.factorize(_objects(column))
    return CodedColumn(np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object))


def _objects(column: pd.Series) -> npt.NDArray[np.object_]:
    """Text column as an object array with None for missing values.

    Comparing such arrays with a string is elementwise and cheap, and None compares unequal
    (pandas' NA would make ``==`` ambiguous); pd.isna on strings is the slow part otherwise.
    """
    values: npt.NDArray[np.object_] = column.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def index_rows(frame: pd.DataFrame) -> CodedRows:
    """The table with its episodes factorized once (see ``CodedRows``).

    All rows, not only the analysed instruments': episode columns (ending, age band...) count
    from any row of the episode.
    """
    ids = frame["episode_id"]
    # A categorical column already holds the codes; object arrays factorize faster than strings.
    source = ids if isinstance(ids.dtype, pd.CategoricalDtype) else ids.to_numpy(dtype=object)
    episode, episode_ids = pd.factorize(source)
    return CodedRows(
        frame=frame,
        episode=episode.astype(np.int64, copy=False),
        episode_ids=np.asarray(episode_ids, dtype=object),
    )


def text_equals(column: pd.Series, value: str) -> npt.NDArray[np.bool_]:
    """Rows whose text value equals ``value``; on a categorical, one integer comparison."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        if value not in categories:
            return np.zeros(len(column), dtype=bool)
        return np.asarray(column.cat.codes.to_numpy() == categories.get_loc(value))
    return np.asarray(_objects(column) == value, dtype=bool)


def scored_rows(
    rows: CodedRows, instrument: str, rater: str, total: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Rows of ``instrument`` rated by ``rater`` with a total, in an episode."""
    return (
        text_equals(rows.frame["instrument"], instrument)
        & text_equals(rows.frame["rater"], rater)
        & ~np.isnan(total)
        & (rows.episode >= 0)
    )


def score_runs(
    rows: CodedRows,
    instrument: str,
    rater: str,
    total: npt.NDArray[np.float64],
    session: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The scored rows ordered by episode then session, and where each episode's run starts/ends.

    Returns (picked row positions, run starts, run ends) with ends inclusive, indexing ``picked``.
    """
    picked = np.flatnonzero(scored_rows(rows, instrument, rater, total))
    # One int64 key (episode, session); a stable sort keeps the table's order for ties. Exports
    # are usually already in this order, and checking that is much cheaper than sorting.
    key = rows.episode[picked] * (int(session.max(initial=0)) + 1) + session[picked]
    if len(key) > 1 and bool(np.any(key[1:] < key[:-1])):
        picked = picked[np.argsort(key, kind="stable")]
    code = rows.episode[picked]
    if not len(code):
        return picked, code, code
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], len(code)] - 1
    return picked, starts, ends


def episode_outcomes_of(
    rows: CodedRows, instrument: str, rater: str
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """``episode_outcomes`` of coded rows, and where each episode landed in it.

    Also returns, for each episode code of ``rows``, the position of the episode in the result (-1
    when it has no score), so callers can join other rows of the episode to it without a merge.
    """
    total = rows.column("total").astype(float, copy=False)
    session = rows.column("session_number").astype(np.int64, copy=False)
    picked, starts, ends = score_runs(rows, instrument, rater, total, session)
    code = rows.episode[picked]
    first, last = picked[starts], picked[ends]
    position = np.full(len(rows.episode_ids), -1, dtype=np.int64)
    position[code[starts]] = np.arange(len(starts))
    dates = rows.column("session_date")
    result = pd.DataFrame(
        {
            "client_id": _strings_at(rows.frame["client_id"], first),
            "therapist_id": _strings_at(rows.frame["therapist_id"], first),
            "intake": total[first],
            "final": total[last],
            "n_scores": (ends - starts + 1).astype(np.int64),
            "first_session": session[first],
            "last_session": session[last],
            "first_date": dates[first],
            "last_date": dates[last],
        },
        index=pd.Index(rows.episode_ids[code[starts]], name="episode_id", dtype="string"),
    )
    result["change"] = result["final"] - result["intake"]
    result["days"] = (result["last_date"] - result["first_date"]).dt.days
    for name in EPISODE_COLUMNS:
        if name in rows.frame.columns:
            result[name] = _first_strings(rows, position, name, len(result))
    return result, position


def _strings_at(column: pd.Series, positions: npt.NDArray[np.int64]) -> Any:
    """``pd.array(column.take(positions).to_numpy(), dtype="string")``; for a categorical of
    texts kept in Arrow, its categories taken by the codes, without a Python string per row
    (two id columns of 100,000 episodes: ~40 ms less)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories.array
        if isinstance(categories.dtype, pd.StringDtype) and categories.dtype.storage == "pyarrow":
            codes = column.cat.codes.to_numpy()[positions]
            return categories.take(codes, allow_fill=True).astype("string")
    return pd.array(column.take(positions).to_numpy(), dtype="string")


def first_per_episode(
    rows: CodedRows, position: npt.NDArray[np.int64], name: str, n_episodes: int
) -> npt.NDArray[np.object_]:
    """First non-missing value of column ``name`` among each episode's rows (None if none)."""
    column = coded_column(rows.frame[name])
    codes = _first_codes(rows, position, column.codes, n_episodes)
    result = np.full(n_episodes, None, dtype=object)
    known = codes >= 0
    result[known] = column.values[codes[known]]
    return result


def _first_strings(
    rows: CodedRows, position: npt.NDArray[np.int64], name: str, n_episodes: int
) -> Any:
    """``pd.array(first_per_episode(...), dtype="string")``; for a categorical of texts kept in
    Arrow, its categories taken by the first codes, without a Python string per episode."""
    column = rows.frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories.array
        if isinstance(categories.dtype, pd.StringDtype) and categories.dtype.storage == "pyarrow":
            codes = _first_codes(rows, position, column.cat.codes.to_numpy(), n_episodes)
            return categories.take(codes, allow_fill=True).astype("string")
    return pd.array(first_per_episode(rows, position, name, n_episodes), dtype="string")


def _first_codes(
    rows: CodedRows,
    position: npt.NDArray[np.int64],
    codes: npt.NDArray[np.integer[Any]],
    n_episodes: int,
) -> npt.NDArray[np.int64]:
    """The code (in ``codes``, one per row, -1 when missing) of each episode's first row that
    has one, by the episode's position in the result; -1 when none of its rows has one."""
    analysed = np.flatnonzero(position >= 0)  # episode codes that have a row in the result
    first = rows.first_row[analysed]
    result = np.full(n_episodes, -1, dtype=np.int64)
    found = codes[first] >= 0
    result[position[analysed[found]]] = codes[first[found]]
    # Episodes whose first row lacks the value (e.g. an ending given on the last row only): the
    # first row that has it, searched among those episodes' rows alone.
    missing = np.zeros(len(position), dtype=bool)
    missing[analysed[~found]] = True
    if missing.any():
        in_missing = missing[np.maximum(rows.episode, 0)] & (rows.episode >= 0)
        candidates = np.flatnonzero(in_missing & (codes >= 0))
        if len(candidates):
            episode_codes, first_index = np.unique(rows.episode[candidates], return_index=True)
            result[position[episode_codes]] = codes[candidates[first_index]]
    return result
