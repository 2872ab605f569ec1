"""The administrations-table argument every statistics command shares (FILE, a CSV or Parquet
file, and --drop-duplicates), and its reading: one line naming the file, row and column on bad input."""

from __future__ import annotations

import argparse
import ctypes
import sys
from typing import Any

from alliance.cli import CliError


def add_table_argument(
    parser: argparse.ArgumentParser, help: str = "administrations table"
) -> None:
    parser.add_argument("file", metavar="FILE", help=f"{help} (CSV, or Parquet: .parquet/.pq)")
    parser.add_argument(
        "--drop-duplicates",
        action="store_true",
        help="keep one of identical rows for the same episode, session, instrument and rater "
        "(conflicting rows are always refused)",
    )


def start_reading(args: argparse.Namespace) -> Any:
    """Start splitting ``args.file`` into cells in a thread (a plain CSV file; else None), for
    ``read_table(args, pending)``. Called before a command imports pandas and the science
    modules: Arrow reads with its own threads, without the interpreter lock, while they import
    (on an idle 2-core machine the two took ~0.6 s each, one after the other)."""
    from alliance.science.csv_cells import start_reading as start

    _give_freed_memory_back()
    return start(args.file)


def read_table(args: argparse.Namespace, pending: Any = None) -> Any:
    """The validated table named by ``args.file``; a CliError (one line) when it is not usable.
    ``pending``: what ``start_reading(args)`` returned, if it was called."""
    # Imported here so that `alliance --help` does not pay for pandas.
    from alliance.science.table import TableError, read_administrations

    _give_freed_memory_back()
    try:
        return read_administrations(
            args.file, drop_duplicates=args.drop_duplicates, pending=pending
        )
    except (TableError, OSError) as error:
        raise CliError(str(error)) from error


def without_items(frame: Any, keep: str | None = None) -> Any:
    """``frame`` without its item columns (item_1...), except ``keep``: they are validated on
    reading, but a command that does not use them need not hold them (8 bytes a row each)."""
    from alliance.science.table import item_columns

    dropped = [column for column in item_columns(frame.columns) if column != keep]
    return frame.drop(columns=dropped) if dropped else frame


# glibc's mallopt parameter: blocks from this size up get their own mapping, returned on free.
_M_MMAP_THRESHOLD = -3


def _give_freed_memory_back() -> None:
    """Let the process give the memory of freed arrays back to the system, for a command that
    holds a table of a million rows: Arrow's allocations go through the C library (Arrow's own
    allocator keeps what it frees), and the C library maps every block of 1 MiB or more on its
    own (by default its threshold grows to 32 MiB after the first large block is freed, and the
    freed column-sized arrays then stay in the heap). Peak memory of `alliance effectiveness` on
    a million rows: about 60 MB lower. Without pyarrow or glibc, nothing changes."""
    try:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    if sys.platform.startswith("linux"):
        try:
            mallopt = ctypes.CDLL(None).mallopt
        except (OSError, AttributeError):  # pragma: no cover - not glibc
            return
        mallopt(_M_MMAP_THRESHOLD, 1 << 20)
