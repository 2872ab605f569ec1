"""`alliance therapists`: therapist effects (ICC and shrunken estimates with intervals)."""

from __future__ import annotations

import argparse
import json

from alliance.cli import CliError
from alliance.cli.tables import add_table_argument, read_table
from alliance.science.therapists import TherapistEffects, TherapistEffectsError, therapist_effects


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "therapists",
        help="therapist effects: ICC and shrunken per-therapist estimates",
        description=(
            "Share of outcome variance due to therapists (ICC, 95% profile-likelihood interval) "
            "and each therapist's shrunken estimate with its 95% interval, from a mixed model of "
            "the final score with intake as covariate. A therapist is 'above' or 'below' average "
            "only when the interval excludes the average. See docs/etr.md."
        ),
    )
    add_table_argument(parser)
    parser.add_argument("--instrument", default="ors", help="instrument code (default ors)")
    parser.add_argument("--rater", default="client", help="rater (default client)")
    parser.add_argument(
        "--include-open", action="store_true", help="also use episodes that have not ended"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run, exit_at_once=True)


def run(args: argparse.Namespace) -> int:
    frame = read_table(args)
    try:
        result = therapist_effects(
            frame,
            instrument=args.instrument.lower(),
            rater=args.rater,
            closed_only=not args.include_open,
        )
    except TherapistEffectsError as error:
        raise CliError(str(error)) from error
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
    return 0


def format_report(result: TherapistEffects) -> str:
    labels = result.per_therapist["label"].value_counts()
    lines = [
        f"{result.n_episodes} episodes, {result.n_therapists} therapists "
        f"({result.instrument.upper()}, final score adjusted for intake)",
        f"ICC (share of variance between therapists): {result.icc:.3f} "
        f"(95% interval {result.icc_low:.3f} to {result.icc_high:.3f})",
        f"above average: {labels.get('above', 0)}, below: {labels.get('below', 0)}, "
        f"not distinguishable from average: {labels.get('average', 0)}",
        "effect = shrunken difference from the average therapist in points "
        "(positive = better); sorted by id, not ranked",
        f"{'therapist':<12} {'n':>5} {'effect':>7} {'95% interval':>17}  label",
    ]
    for row in result.per_therapist.itertuples(index=False):
        lines.append(
            f"{row.therapist_id!s:<12} {row.n_episodes:>5} {row.effect:>7.2f} "
            f"{row.low:>8.2f} to {row.high:>5.2f}  {row.label}"
        )
    return "\n".join(lines)
