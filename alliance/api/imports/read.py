"""Reading: a CSV file (or a typed table such as the simulator's) as text columns.

Nothing is coerced here: the validation reports every problem per row.
"""

from __future__ import annotations

import csv
import io
import re
from typing import IO

import pandas as pd
from django.utils.translation import gettext as _

# The agency CSV export of the reports app (alliance.reports.exports.administration_rows) names
# some columns differently; its episode_id is the episode's public id (re-importing an agency's
# own export into it recognises its episodes). Its research export is pseudonymised: its
# therapist ids are not usernames, so it is for analysis, not for re-import.
EXPORT_COLUMNS = {"client_code": "client_id", "therapist": "therapist_id", "team": "team_id"}
ROW_COLUMN = "_row"
PROBLEM_COLUMN = "_problem"  # "column: message" set by a converter (e.g. FHIR) for a row


NEUTRALISED = r"^'(?=[=+\-@\t\r])"


class ImportFormatError(ValueError):
    """The file cannot be read as a table at all (not a per-row problem)."""


# The header is checked on its own before pandas reads the body: a hostile header (a million
# columns, repeated names, one endless line) is refused in milliseconds. An administrations table
# has about 25 columns of short names.
MAX_COLUMNS = 200
MAX_HEADER_CHARS = 8192


def check_header(start: str) -> None:
    """Refuse a header line (the first line of ``start``) that no administrations table has."""
    parts = re.split(r"\r\n|\n|\r", start[: MAX_HEADER_CHARS + 2], maxsplit=1)
    line = parts[0]
    if len(line) > MAX_HEADER_CHARS or (len(parts) == 1 and len(start) > MAX_HEADER_CHARS):
        raise ImportFormatError(
            _("the header line is longer than %(count)s characters") % {"count": MAX_HEADER_CHARS}
        )
    if line.count(",") >= MAX_COLUMNS:  # cheap bound before the csv module splits it
        raise ImportFormatError(
            _("the header has more than %(count)s columns") % {"count": MAX_COLUMNS}
        )
    try:
        names = [name.strip().lower() for name in next(csv.reader([line]), [])]
    except csv.Error as error:
        raise ImportFormatError(
            _("cannot read the header line: %(error)s") % {"error": error}
        ) from None
    if not any(names):
        raise ImportFormatError(_("the file has no header line"))
    if len(names) > MAX_COLUMNS:
        raise ImportFormatError(
            _("the header has more than %(count)s columns") % {"count": MAX_COLUMNS}
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ImportFormatError(
                (_("the header repeats the column %(name)s") % {"name": repr(name)})[:200]
            )
        seen.add(name)


def read_csv(source: bytes | str | IO) -> pd.DataFrame:
    """Read a CSV as text columns (no coercion: the validation reports per row)."""
    if not isinstance(source, bytes | str):
        source = source.read()
    if isinstance(source, bytes):
        check_header(source[: MAX_HEADER_CHARS * 4 + 2].decode("utf-8-sig", "replace"))
        if b"\x00" in source:
            raise ImportFormatError(
                _("the file contains NUL characters: it is not a CSV text file")
            )
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFormatError(_("the file is not UTF-8 text")) from None
    if isinstance(source, str):
        check_header(source.removeprefix("\ufeff"))
        if "\x00" in source:
            raise ImportFormatError(
                _("the file contains NUL characters: it is not a CSV text file")
            )
        source = io.StringIO(source)
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as error:
        raise ImportFormatError(
            _("cannot read the CSV file: %(error)s") % {"error": error}
        ) from None
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    # Our exports quote text a spreadsheet would run (alliance.ops.csvsafe): read it back as it was.
    for column in frame.columns:
        frame[column] = frame[column].str.replace(NEUTRALISED, "", regex=True)
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
