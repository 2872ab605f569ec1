"""Reading: a CSV file (or a typed table such as the simulator's) as text columns.

Nothing is coerced here: the validation reports every problem per row.
"""

from __future__ import annotations

import io
from typing import IO

import pandas as pd

# The agency CSV export of the reports app (alliance.reports.exports.administration_rows) names
# some columns differently; its episode_id is the episode's public id (re-importing an agency's
# own export into it recognises its episodes). Its research export is pseudonymised: its
# therapist ids are not usernames, so it is for analysis, not for re-import.
EXPORT_COLUMNS = {"client_code": "client_id", "therapist": "therapist_id", "team": "team_id"}
ROW_COLUMN = "_row"
PROBLEM_COLUMN = "_problem"  # "column: message" set by a converter (e.g. FHIR) for a row


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


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """A typed table (dates, numbers, missing values) as the text columns ``read_csv`` gives."""
    text = pd.DataFrame(index=table.index)
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.strftime("%Y-%m-%d")
        text[str(column).lower()] = values.astype(object).where(values.notna(), "").astype(str)
    return text


def text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as stripped text; a missing column reads as empty."""
    if column not in frame.columns:
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[column].fillna("").astype(str).str.strip()


def item_columns(frame: pd.DataFrame) -> list[str]:
    return sorted(
        (c for c in frame.columns if c.startswith("item_") and c[5:].isdigit()),
        key=lambda c: int(c[5:]),
    )
