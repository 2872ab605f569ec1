"""`alliance effectiveness`: effect sizes, reliable change, target, drop-out and alliance summary."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from alliance.cli import CliError
from alliance.cli.tables import add_table_argument, read_table, start_reading, without_items

TABLE_HELP = """\
The input is an administrations table (CSV, or Parquet by its extension .parquet or .pq; one
row per administered scale):
  client_id       pseudonymous client identifier
  episode_id      episode identifier, unique across clients
  therapist_id    therapist identifier
  session_number  1-based session number within the episode
  session_date    ISO date (YYYY-MM-DD)
  instrument      ors, srs, cors, csrs, ...
  rater           client, or a collateral role (parent, partner, teacher, ...)
  total           total score
optional: item_1..item_4, team_id, age_band (child, adolescent, adult),
ending (planned or unilateral once closed, empty while open).
`alliance simulate` writes such a file. Every output field is described in docs/effectiveness.md.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "effectiveness",
        help="aggregate effectiveness (ES, SAES, reliable change, target, drop-out, alliance)",
        description=(
            "Aggregate effectiveness over episodes, overall and per group: pre-post and "
            "severity-adjusted effect sizes, reliable improvement/deterioration, clinically "
            "significant change, ETR target, drop-out, sessions, days and the alliance summary."
        ),
        epilog=TABLE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_table_argument(parser, help="administrations table, see below")
    parser.add_argument(
        "--by",
        metavar="COL",
        help="group by an episode column (therapist_id, team_id, age_band, ...) or a period of "
        "the first session (quarter, month, year)",
    )
    parser.add_argument("--instrument", default="ors", help="outcome instrument (default ors)")
    parser.add_argument("--rater", default="client", help="rater of the outcome (default client)")
    parser.add_argument(
        "--model", metavar="MODEL.json", help="ETR model file (default: the shipped model)"
    )
    parser.add_argument(
        "--reference",
        metavar="FILE",
        help="severity-adjustment reference: an administrations table (CSV or Parquet) or a JSON object with "
        "intercept, slope, mean_change, sd_intake, n (default: the analysed file itself)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run, exit_at_once=True)


def run(args: argparse.Namespace) -> int:
    # First, so that Arrow splits the file while pandas, scipy and the modules below import.
    pending = start_reading(args)
    from alliance.science.effectiveness import EffectivenessError, effectiveness
    from alliance.science.etr import EtrError, load_model
    from alliance.science.instruments import UnknownInstrumentError
    from alliance.science.table import TableError, read_administrations

    try:
        frame = read_table(args, pending)
        _check_by(args.by, frame.columns)
        frame = without_items(frame, keep=args.by)
        model = load_model(args.model) if args.model else None
        reference = _read_reference(args.reference, read_administrations)
        result = effectiveness(
            frame,
            by=args.by,
            instrument=args.instrument,
            rater=args.rater,
            model=model,
            reference=reference,
        )
    except (TableError, EffectivenessError, EtrError, UnknownInstrumentError) as error:
        raise CliError(str(error)) from error
    if args.json:
        print(json.dumps(result, allow_nan=False))
    else:
        print(format_report(result))
    return 0


def _check_by(by: str | None, columns: Any) -> None:
    from alliance.science.effectiveness import PERIODS

    if by is not None and by not in columns and by not in PERIODS:
        choices = sorted(set(columns) - {"total", "session_number", "session_date"} | set(PERIODS))
        raise CliError(f"unknown --by column {by!r} (choose from: {', '.join(choices)})")


def _read_reference(path: str | None, read_table: Any) -> Any:
    if path is None:
        return None
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise CliError(f"cannot read reference {path}: {error}") from error
        if not isinstance(data, dict):
            raise CliError(f"reference {path} must hold a JSON object")
        # Accept the "reference" entry of a saved `alliance effectiveness --json` output too.
        return data.get("reference", data)
    return read_table(path)


# ----- readable report ----------------------------------------------------------------------
COLUMNS = (
    ("n", 7),
    ("used", 7),
    ("ES", 6),
    ("SAES", 6),
    ("rel.ES", 7),
    ("%impr", 6),
    ("%det", 5),
    ("%CSC", 5),
    ("%target", 8),
    ("%drop", 6),
    ("sess", 5),
    ("days", 6),
    ("SRS", 5),
    ("%SRS<", 6),
    ("r(SRS)", 7),
)


def format_report(result: dict[str, Any]) -> str:
    """A plain-text table: one line for the whole table and one per group."""
    lines = [
        f"instrument {result['instrument']} (rater {result['rater']}), reliable change "
        f"{_number(result['reliable_change'], 1)} points, cutoffs "
        + ", ".join(f"{band} {_number(c, 0)}" for band, c in result["cutoffs"].items()),
        _model_line(result["model"]),
        "",
    ]
    width = max([len("overall")] + [len(str(g)) for g in result["groups"]]) + 2
    header = "group".ljust(width) + "".join(name.rjust(w) for name, w in COLUMNS)
    lines += [header, "-" * len(header)]
    lines.append(_row("overall", result["overall"], width))
    for group, summary in result["groups"].items():
        lines.append(_row(group, summary, width))
    lines += [
        "",
        "ES = mean change / SD of intake; SAES = severity-adjusted ES (clinical-range intakes); "
        "rel.ES = SAES - reference ES;",
        "% are of used episodes (>= 2 scores), %drop of closed episodes; %SRS< = SRS sessions "
        "below the alliance cutoff; r(SRS) = early SRS vs change.",
    ]
    return "\n".join(lines)


def _model_line(model: dict[str, Any] | None) -> str:
    if model is None:
        return "no ETR model for this instrument: target and drop-out are not computed"
    note = " (provisional)" if model.get("provisional") else ""
    return f"ETR model: {model.get('name')}{note}"


def _row(label: str, summary: dict[str, Any], width: int) -> str:
    alliance = summary.get("alliance") or {}
    values = (
        str(summary["n_episodes"]),
        str(summary["n_used"]),
        _number(summary["es"]["value"], 2),
        _number(summary["saes"]["value"], 2),
        _number(summary["relative_es"], 2),
        _percent(summary["reliable_improvement"]),
        _percent(summary["reliable_deterioration"]),
        _percent(summary["clinically_significant"]),
        _percent(summary["reached_target"]),
        _percent(summary["dropout"]),
        _number(summary["sessions"]["value"], 1),
        _number(summary["days"]["value"], 0),
        _number(alliance.get("mean"), 1),
        _percent(alliance.get("below_cutoff")),
        _number((alliance.get("early_outcome_r") or {}).get("value"), 2),
    )
    return label.ljust(width) + "".join(
        v.rjust(w) for v, (_, w) in zip(values, COLUMNS, strict=True)
    )


def _number(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    # Adding 0.0 turns a rounded -0.0 into 0.0, so "-0.00" never shows.
    return f"{round(value, digits) + 0.0:.{digits}f}"


def _percent(proportion: dict[str, Any] | None) -> str:
    if not proportion or proportion.get("proportion") is None:
        return "-"
    return f"{100 * proportion['proportion']:.0f}"
