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
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import IO

import numpy as np
import pandas as pd

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


def read_administrations(source: str | os.PathLike[str] | IO[str]) -> pd.DataFrame:
    """Read and validate an administrations CSV file."""
    # Categoricals: identifiers repeat across many rows, and group-bys on codes are much faster.
    dtypes = dict.fromkeys(_TEXT_COLUMNS, "category")
    try:
        frame = pd.read_csv(source, dtype=dtypes, keep_default_na=True)
    except FileNotFoundError as error:
        raise TableError(f"file not found: {error.filename}") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise TableError(f"cannot read the administrations table: {error}") from error
    return validate_administrations(frame)


def validate_administrations(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the required columns and coerce types; returns a new, clean frame."""
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise TableError(
            "missing required column(s): "
            + ", ".join(missing)
            + f" (required: {', '.join(REQUIRED_COLUMNS)})"
        )
    frame = frame.copy()
    for column in _TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = _text_category(frame[column])
    frame["instrument"] = _lower_category(frame["instrument"])
    frame["session_number"] = _numeric_column(frame, "session_number").astype("int64")
    frame["total"] = _numeric_column(frame, "total", allow_missing=True).astype("float64")
    frame["session_date"] = _date_column(frame)
    for column in item_columns(frame.columns):
        frame[column] = _numeric_column(frame, column, allow_missing=True).astype("float64")
    if (frame["session_number"] < 1).any():
        row = int(np.flatnonzero(frame["session_number"].to_numpy() < 1)[0])
        raise TableError(f"row {row + 2}: session_number must be 1 or more")
    if "ending" in frame.columns:
        bad = frame["ending"].notna() & ~frame["ending"].isin(ENDINGS)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise TableError(
                f"row {row + 2}: ending must be one of {', '.join(ENDINGS)} or empty, "
                f"not {frame['ending'].iloc[row]!r}"
            )
    return frame


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
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if not allow_missing:
        bad = bad | frame[column].isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(
            f"row {row + 2}: column {column} must be a number, not {frame[column].iloc[row]!r}"
        )
    return values


def _date_column(frame: pd.DataFrame) -> pd.Series:
    dates = pd.to_datetime(frame["session_date"], format="ISO8601", errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(
            f"row {row + 2}: session_date must be an ISO date (YYYY-MM-DD), "
            f"not {frame['session_date'].iloc[row]!r}"
        )
    return dates


def episode_outcomes(
    frame: pd.DataFrame, instrument: str = "ors", rater: str = "client"
) -> pd.DataFrame:
    """One row per episode with its intake (first score) and final (last score).

    Only rows of ``instrument`` rated by ``rater`` with a total count. Columns: ``client_id``,
    ``therapist_id``, ``intake``, ``final``, ``change`` (final - intake), ``n_scores``,
    ``first_session``, ``last_session``, ``first_date``, ``last_date``, ``days``, and the episode
    columns present in the table (``team_id``, ``age_band``, ``ending``). Indexed by episode_id.
    An episode counts for change statistics when ``n_scores >= 2``.
    """
    rows = frame.loc[
        (frame["instrument"] == instrument) & (frame["rater"] == rater) & frame["total"].notna()
    ]
    rows = rows.sort_values(["episode_id", "session_number"], kind="stable")
    grouped = rows.groupby("episode_id", sort=False, observed=True)
    extra = [c for c in EPISODE_COLUMNS if c in rows.columns]
    firsts = grouped[
        ["client_id", "therapist_id", "total", "session_number", "session_date"]
    ].first()
    lasts = grouped[["total", "session_number", "session_date"]].last()
    result = pd.DataFrame(
        {
            "client_id": firsts["client_id"],
            "therapist_id": firsts["therapist_id"],
            "intake": firsts["total"],
            "final": lasts["total"],
            "n_scores": grouped.size(),
            "first_session": firsts["session_number"],
            "last_session": lasts["session_number"],
            "first_date": firsts["session_date"],
            "last_date": lasts["session_date"],
        }
    )
    result["change"] = result["final"] - result["intake"]
    result["days"] = (result["last_date"] - result["first_date"]).dt.days
    if extra:
        # Episode columns may be filled only on some rows (e.g. ending on the last one).
        episode_values = (
            frame.loc[frame["episode_id"].isin(result.index)]
            .groupby("episode_id", sort=False, observed=True)[extra]
            .first()
        )
        result = result.join(episode_values)
    result.index.name = "episode_id"
    return result
