"""`alliance change`: reliable and clinically significant change (every established method)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from alliance.cli import CliError
from alliance.ops.csvsafe import safe_frame
from alliance.science.change import (
    APPROACHES,
    BOUNDARIES,
    CRITICAL_RULES,
    CUTOFF_B_SDS,
    CUTOFF_TYPES,
    HA_CUTOFFS,
    HA_HARMED_RULES,
    METHODS,
    ChangeError,
    ChangeResult,
    analyse_change,
)

METHOD_NAMES = {
    "jt": "Jacobson-Truax",
    "ha": "Hageman-Arrindell",
    "en": "Edwards-Nunnally",
    "gln": "Gulliksen-Lord-Novick",
    "hll": "Hsu-Linn-Lord",
    "nk": "Nunnally-Kotsch",
    "hlm": "multilevel growth model",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "change",
        help="reliable and clinically significant change (JT, HA, EN, GLN, HLL, NK, HLM)",
        description=(
            "Reliable and clinically significant change on a long CSV table (one row per id and "
            "time): between two time points, or over all of them with --method hlm. "
            "The defaults reproduce the R package clinicalsignificance except for cutoff b "
            "(functional SD, as Jacobson & Truax). See docs/change.md."
        ),
    )
    parser.add_argument("file", metavar="FILE.csv", help="long table with id, time and score")
    parser.add_argument("--id", required=True, metavar="COL", help="column identifying the case")
    parser.add_argument("--time", required=True, metavar="COL", help="column of time points")
    parser.add_argument("--score", required=True, metavar="COL", help="column of scores")
    parser.add_argument("--pre", metavar="T1", help="pre time point (not with --method hlm)")
    parser.add_argument("--post", metavar="T2", help="post time point (not with --method hlm)")
    parser.add_argument(
        "--reliability",
        type=float,
        metavar="R",
        help="reliability, 0 < R < 1 (not used by hlm or by the statistical jt approach)",
    )
    parser.add_argument(
        "--reliability-post", type=float, metavar="R2", help="post-test reliability (nk; default R)"
    )
    parser.add_argument(
        "--lower-is-better", action="store_true", help="lower scores are better (default: higher)"
    )
    parser.add_argument("--method", choices=METHODS, default="jt", help="RCI method (default jt)")
    parser.add_argument(
        "--approach",
        choices=APPROACHES,
        help="distribution (RCI), statistical (cutoff) or combined; default combined with a "
        "cutoff or norm, else distribution",
    )
    parser.add_argument("--m-functional", type=float, metavar="M", help="functional norm mean")
    parser.add_argument("--sd-functional", type=float, metavar="S", help="functional norm SD")
    parser.add_argument(
        "--cutoff", choices=CUTOFF_TYPES, help="cutoff type (default c with a norm, else a)"
    )
    parser.add_argument(
        "--critical",
        choices=CRITICAL_RULES,
        default="exact",
        help="exact normal quantiles (1.959964, HA 1.644854; default) or rounded 1.96 / 1.65",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        metavar="A",
        help="significance level of the critical value (default .05; two-sided but for ha)",
    )
    parser.add_argument(
        "--boundary",
        choices=BOUNDARIES,
        default="reference",
        help="a post score exactly on the cutoff: not functional (reference, default) or "
        "functional",
    )
    parser.add_argument(
        "--cutoff-b-sd",
        choices=CUTOFF_B_SDS,
        default="functional",
        help="SD in cutoff b: functional (Jacobson & Truax, default) or clinical (the R package)",
    )
    parser.add_argument(
        "--ha-cutoff",
        choices=HA_CUTOFFS,
        default="true",
        help="ha: true-score cutoff and CS_indiv (default) or jt's observed-score cutoff",
    )
    parser.add_argument(
        "--ha-harmed",
        choices=HA_HARMED_RULES,
        default="reference",
        help="ha combined harmed: as the R package (default) or also clinical at post by CS_indiv",
    )
    parser.add_argument("--by", metavar="COL", help="also count the categories per group")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--per-case",
        metavar="OUT.csv",
        help="write one row per used case: scores, RCI, category and the reason",
    )
    parser.set_defaults(func=run, exit_at_once=True)


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
            approach=args.approach,
            reliability_post=args.reliability_post,
            critical=args.critical,
            boundary=args.boundary,
            cutoff_b_sd=args.cutoff_b_sd,
            ha_cutoff=args.ha_cutoff,
            ha_harmed=args.ha_harmed,
            alpha=args.alpha,
        )
    except ChangeError as error:
        raise CliError(f"{args.file}: {error}") from error
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
        safe_frame(result.per_case).to_csv(Path(path), index=False)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from error


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def format_report(summary: dict[str, Any]) -> str:
    """The summary as a readable text table (categories by group when --by was used)."""
    direction = "higher" if summary["higher_is_better"] else "lower"
    if summary["method"] == "hlm":
        when = "Change over all time points"
    else:
        when = f"Change from time {summary['pre']} to time {summary['post']}"
    reliability = summary.get("reliability")
    lines = [
        f"{when} ({METHOD_NAMES[summary['method']]}, {summary['approach']} approach; "
        f"{direction} is better"
        + ("" if reliability is None else f"; reliability {reliability:g}")
        + ")",
        f"cases: {summary['n_total']} in the table, {summary['n_used']} used, "
        f"{summary['n_excluded']} excluded ({_excluded_reason(summary)})",
    ]
    if "critical_value" in summary:
        lines.append(f"critical value: {summary['critical_value']:.6g} ({summary['critical']})")
    if "rc_threshold" in summary:
        lines.append(
            f"reliable change threshold: {summary['rc_threshold']:.2f} points{_ha_note(summary)}"
        )
    lines += _method_lines(summary)
    if "cutoff" in summary:
        scale = "true-score " if summary["cutoff_scale"] == "true" else ""
        lines.append(
            f"{scale}cutoff {summary['cutoff_type']}: {summary['cutoff']:.2f} "
            f"(clinical M {summary['m_clinical']:.2f}, SD {summary['sd_clinical']:.2f}"
            f"{_functional_note(summary)})"
        )
    lines += ["", *_category_table(summary)]
    return "\n".join(lines)


def _excluded_reason(summary: dict[str, Any]) -> str:
    if summary["method"] == "hlm":
        return f"fewer than {summary['min_scores']} scores"
    return "missing pre or post"


def _method_lines(summary: dict[str, Any]) -> list[str]:
    if "hlm" in summary:
        model = summary["hlm"]
        singular = ", singular fit" if model["singular"] else ""
        return [
            f"growth model: slope {model['fixed_slope']:.3f} per time unit, slope variance "
            f"{model['var_slope']:.3f}, residual variance {model['var_residual']:.3f}{singular}"
        ]
    for key, label in (
        ("se_prediction", "SE of prediction"),
        ("nk_denominator", "NK denominator"),
    ):
        if key in summary:
            return [f"{label}: {summary[key]:.4f}"]
    if summary["method"] == "en" and "se_measurement" in summary:
        return [f"SE of measurement: {summary['se_measurement']:.4f}"]
    return []


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
