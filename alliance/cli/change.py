"""`alliance change`: reliable and clinically significant change between two time points."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from alliance.cli import CliError
from alliance.science.change import (
    CUTOFF_TYPES,
    METHODS,
    ChangeError,
    ChangeResult,
    analyse_change,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "change",
        help="reliable and clinically significant change (Jacobson-Truax, Hageman-Arrindell)",
        description=(
            "Reliable change and change categories between two time points of a long CSV table "
            "(one row per id and time). See docs/change.md."
        ),
    )
    parser.add_argument("file", metavar="FILE.csv", help="long table with id, time and score")
    parser.add_argument("--id", required=True, metavar="COL", help="column identifying the case")
    parser.add_argument("--time", required=True, metavar="COL", help="column of time points")
    parser.add_argument("--score", required=True, metavar="COL", help="column of scores")
    parser.add_argument("--pre", required=True, metavar="T1", help="pre time point")
    parser.add_argument("--post", required=True, metavar="T2", help="post time point")
    parser.add_argument(
        "--reliability", required=True, type=float, metavar="R", help="reliability, 0 < R < 1"
    )
    parser.add_argument(
        "--lower-is-better", action="store_true", help="lower scores are better (default: higher)"
    )
    parser.add_argument("--method", choices=METHODS, default="jt", help="jt (default) or ha")
    parser.add_argument("--m-functional", type=float, metavar="M", help="functional norm mean")
    parser.add_argument("--sd-functional", type=float, metavar="S", help="functional norm SD")
    parser.add_argument(
        "--cutoff", choices=CUTOFF_TYPES, help="cutoff type (default c when norms are given)"
    )
    parser.add_argument("--by", metavar="COL", help="also count the categories per group")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--per-case", metavar="OUT.csv", help="write one row per used case")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    frame = _read_table(args.file)
    try:
        result = analyse_change(
            frame,
            id_column=args.id,
            time_column=args.time,
            score_column=args.score,
            pre=args.pre,
            post=args.post,
            reliability=args.reliability,
            higher_is_better=not args.lower_is_better,
            method=args.method,
            m_functional=args.m_functional,
            sd_functional=args.sd_functional,
            cutoff=args.cutoff,
            by=args.by,
        )
    except ChangeError as error:
        raise CliError(str(error)) from error
    if args.per_case:
        _write_per_case(result, args.per_case)
    if args.json:
        print(json.dumps(result.summary, indent=2))
    else:
        print(format_report(result.summary))
    return 0


def _read_table(path: str) -> pd.DataFrame:
    # Everything as text: time points and ids are compared as normalised text, scores checked later.
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=True)
    except FileNotFoundError as error:
        raise CliError(f"file not found: {path}") from error
    except IsADirectoryError as error:
        raise CliError(f"not a file: {path}") from error
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path} as CSV: {_first_line(error)}") from error


def _write_per_case(result: ChangeResult, path: str) -> None:
    try:
        result.per_case.to_csv(Path(path), index=False)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from error


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def format_report(summary: dict[str, Any]) -> str:
    """The summary as a readable text table (categories by group when --by was used)."""
    direction = "higher" if summary["higher_is_better"] else "lower"
    lines = [
        f"Change from time {summary['pre']} to time {summary['post']} "
        f"({_method_name(summary['method'])}; {direction} is better; "
        f"reliability {summary['reliability']:g})",
        f"cases: {summary['n_total']} in the table, {summary['n_used']} used, "
        f"{summary['n_excluded']} excluded (missing pre or post)",
        f"reliable change threshold: {summary['rc_threshold']:.2f} points{_ha_note(summary)}",
    ]
    if "cutoff" in summary:
        lines.append(
            f"cutoff {summary['cutoff_type']}: {summary['cutoff']:.2f} "
            f"(clinical M {summary['m_clinical']:.2f}, SD {summary['sd_clinical']:.2f}"
            f"{_functional_note(summary)})"
        )
    lines += ["", *_category_table(summary)]
    return "\n".join(lines)


def _method_name(method: str) -> str:
    return {"jt": "Jacobson-Truax", "ha": "Hageman-Arrindell"}[method]


def _ha_note(summary: dict[str, Any]) -> str:
    if "rc_threshold_deterioration" not in summary:
        return ""
    return f" to improve, {summary['rc_threshold_deterioration']:.2f} to deteriorate"


def _functional_note(summary: dict[str, Any]) -> str:
    if summary.get("m_functional") is None:
        return ""
    return f"; functional M {summary['m_functional']:g}, SD {summary['sd_functional']:g}"


def _category_table(summary: dict[str, Any]) -> list[str]:
    columns = {"all": summary, **summary.get("groups", {})}
    width = max(12, *(len(name) + 2 for name in columns))
    header = "category".ljust(14) + "".join(name.rjust(width) for name in columns)
    rows = [header]
    for category in summary["categories"]:
        cells = "".join(
            _count_cell(column["categories"][category], column["n_used"]).rjust(width)
            for column in columns.values()
        )
        rows.append(category.ljust(14) + cells)
    rows.append("used".ljust(14) + "".join(str(c["n_used"]).rjust(width) for c in columns.values()))
    return rows


def _count_cell(count: int, n_used: int) -> str:
    if n_used == 0:
        return str(count)
    return f"{count} ({100.0 * count / n_used:.0f}%)"
