"""The administrations-table argument every statistics command shares (FILE, a CSV or Parquet
file, and --drop-duplicates), and its reading: one line naming the file, row and column on bad input."""

from __future__ import annotations

import argparse
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


def read_table(args: argparse.Namespace) -> Any:
    """The validated table named by ``args.file``; a CliError (one line) when it is not usable."""
    # Imported here so that `alliance --help` does not pay for pandas.
    from alliance.science.table import TableError, read_administrations

    try:
        return read_administrations(args.file, drop_duplicates=args.drop_duplicates)
    except (TableError, OSError) as error:
        raise CliError(str(error)) from error
