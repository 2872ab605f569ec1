"""`alliance simulate`: write a synthetic administrations table (CSV) for demos and benchmarks."""

from __future__ import annotations

import argparse
import sys

from alliance.cli import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write synthetic ORS/SRS administrations (CSV)",
        description=(
            "Write synthetic administrations (administrations table format: client_id, "
            "episode_id, therapist_id, team_id, session_number, session_date, instrument, rater, "
            "total, item_1..item_4, age_band, ending). The data-generating process is documented "
            "in docs/effectiveness.md. Same seed, same data."
        ),
    )
    parser.add_argument("--episodes", type=int, required=True, help="number of episodes (>= 1)")
    parser.add_argument("--therapists", type=int, required=True, help="number of therapists (>= 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE.csv", help="output CSV file ('-' for stdout)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from alliance.science.simulate import simulate  # numpy/pandas only when the command runs

    if args.episodes < 1:
        raise CliError(f"--episodes must be 1 or more, not {args.episodes}")
    if args.therapists < 1:
        raise CliError(f"--therapists must be 1 or more, not {args.therapists}")
    frame = simulate(args.episodes, args.therapists, seed=args.seed)
    target = sys.stdout if args.output == "-" else args.output
    try:
        frame.to_csv(target, index=False, date_format="%Y-%m-%d")
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror or error}") from error
    return 0
