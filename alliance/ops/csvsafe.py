"""Spreadsheet formula neutralisation for every CSV the application writes (one place).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with a single quote, as defusedcsv does, so a spreadsheet shows it as text instead of running it
(CSV injection). Numbers stay numbers: a value that is an ``int``, ``float`` or ``Decimal`` (a
negative change score, say) is written as is; only text is escaped, even text that looks like a
number (a stored code "-1" becomes "'-1"). defusedcsv itself is not used: it leaves tab and
carriage return alone and rewrites ``|`` inside cells. Plain Python, no Django: the command line
uses it too.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value to write into a CSV cell: text that a spreadsheet would evaluate, quoted."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | decimal.Decimal):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


def safe_frame(frame):
    """A copy of a pandas DataFrame with its text cells neutralised (numeric columns untouched)."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype) in ("string", "str"):
            frame[column] = frame[column].map(safe_cell)
    frame.columns = [safe_cell(str(column)) for column in frame.columns]
    return frame
