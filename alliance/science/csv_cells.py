"""A plain CSV file split into dictionary-encoded cells by Arrow, without importing pandas.

``table._read_csv_arrow`` turns these cells into ``pd.read_csv``'s frame. The split needs only
pyarrow, so a command can start it in a thread before it imports pandas, scipy and the science
modules (``start_reading``): Arrow reads with its own threads and without the interpreter lock
while the main thread imports, and the two overlap instead of following each other.
"""

from __future__ import annotations

import os
import threading
from typing import Any

# pandas' default missing-value texts (pandas._libs.parsers.STR_NA_VALUES; a test checks that
# they are equal): written out, as importing them would import pandas itself.
NA_TEXTS: tuple[str, ...] = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


def plain_csv_header(path: str | os.PathLike[str]) -> list[str] | None:
    """The header's names when ``path`` is a ``.csv`` file whose header is distinct, non-empty
    names without a double quote; otherwise None.

    A double quote in a cell is found later in the cells' distinct texts (``has_quote``): with
    quoting off, Arrow keeps it in the text, so the whole file need not be scanned here."""
    if not os.fspath(path).lower().endswith(".csv"):
        return None
    try:
        with open(path, "rb") as file:
            first = file.readline(1 << 20)
    except OSError:
        return None
    try:
        header = first.rstrip(b"\n").decode("utf-8")
    except UnicodeDecodeError:
        return None
    names = header.removeprefix("\ufeff").rstrip("\r").split(",")
    if '"' in header or "\r" in header.rstrip("\r"):
        return None
    if len(set(names)) != len(names) or not all(names):
        return None
    return names


def read_cells(path: str | os.PathLike[str], pool: Any = None) -> Any | None:
    """The file's cells as an Arrow table of dictionary-encoded text columns (missing texts as
    nulls), or None when the file is not plain (see ``plain_csv_header``) or Arrow refuses it
    (a ragged row, invalid UTF-8, no rows). ``pool``: Arrow's memory pool for the cells."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    names = plain_csv_header(path)
    if names is None:
        return None
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        table = pa_csv.read_csv(
            path,
            # Arrow's threads: on an idle 2-core machine the read of a million rows takes 0.66 s
            # instead of 0.98 s, with a lower peak (docs/performance.md).
            read_options=pa_csv.ReadOptions(use_threads=True),
            parse_options=pa_csv.ParseOptions(quote_char=False, newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, text),
                null_values=list(NA_TEXTS),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
            memory_pool=pool,
        )
    except (pa.ArrowException, OSError, ValueError):
        return None
    if table.num_rows == 0 or table.column_names != names:
        return None
    return table


def has_quote(words: Any) -> bool:
    """Whether a column's distinct texts hold a double quote (then pandas must read the file:
    it would unquote what Arrow, with quoting off, splits as it stands)."""
    import pyarrow.compute as pa_compute

    return len(words) > 0 and bool(pa_compute.any(pa_compute.match_substring(words, '"')).as_py())


class PendingCells:
    """``read_cells(path)`` running in a thread; ``result()`` waits for it."""

    def __init__(self, path: str | os.PathLike[str], pool: Any = None) -> None:
        self.path = os.fspath(path)
        self._cells: Any = None
        self._error: BaseException | None = None
        # A daemon thread: a command that fails before it needs the cells does not wait for them.
        self._thread = threading.Thread(target=self._run, args=(pool,), daemon=True)
        self._thread.start()

    def _run(self, pool: Any) -> None:
        try:
            self._cells = read_cells(self.path, pool)
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            self._error = error

    def result(self) -> Any | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        cells, self._cells = self._cells, None  # handed over once: the caller frees them
        return cells


def start_reading(path: str | os.PathLike[str], pool: Any = None) -> PendingCells | None:
    """Start splitting ``path`` in a thread when it is a plain ``.csv`` file, else None."""
    if not isinstance(path, str | os.PathLike) or not os.fspath(path).lower().endswith(".csv"):
        return None
    return PendingCells(path, pool)
