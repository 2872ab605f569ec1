"""`alliance alliance-outcome` and `alliance alliance-profile`: what the alliance does for outcome.

See docs/therapist-development.md for each measure, its source and how to read it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from alliance.cli import CliError
from alliance.cli.tables import add_table_argument, read_table
from alliance.science.alliance_episodes import DEFAULT_FIRST_K, AllianceDataError


def register(subparsers: argparse._SubParsersAction) -> None:
    outcome = subparsers.add_parser(
        "alliance-outcome",
        help="does the therapist's alliance or the client's predict outcome (multilevel model)",
        description=(
            "Splits the early alliance (mean of the first K SRS ratings before the final "
            "outcome score) into the therapist's mean (between) and the client's deviation from "
            "it (within) and fits the final outcome on intake and both, with a random intercept "
            "per therapist (statsmodels MixedLM, REML), after Baldwin, Wampold & Imel (2007). "
            "Prints both slopes with 95%% intervals and a plain-language reading."
        ),
    )
    _common(outcome)
    outcome.add_argument("--by", help="also fit per group, e.g. team_id")
    outcome.add_argument(
        "--first-k",
        type=int,
        default=DEFAULT_FIRST_K,
        help=f"alliance = mean of the first K ratings (default {DEFAULT_FIRST_K})",
    )
    outcome.add_argument(
        "--outcome",
        choices=("final", "change"),
        default="final",
        help="final score or change (same alliance slopes; default final)",
    )
    outcome.add_argument(
        "--include-open", action="store_true", help="also use episodes that have not ended"
    )
    outcome.set_defaults(func=run_outcome, exit_at_once=True)

    profile = subparsers.add_parser(
        "alliance-profile",
        help="each therapist's alliance profile and outcomes with hard-to-engage clients",
        description=(
            "Per therapist and for the agency: sessions below the alliance cutoff, first "
            "sessions at the ceiling, ruptures and repairs, the alliance trend within episodes, "
            "and drop-out, change and reliable improvement with the hardest-to-engage clients "
            "(shrunken toward the agency). Never a ranking: therapists are listed by id."
        ),
    )
    _common(profile)
    profile.add_argument("--therapist", help="only this therapist (and the agency)")
    profile.set_defaults(func=run_profile, exit_at_once=True)


def _common(parser: argparse.ArgumentParser) -> None:
    add_table_argument(parser)
    parser.add_argument("--instrument", default="ors", help="outcome instrument (default ors)")
    parser.add_argument(
        "--alliance-instrument", default="srs", help="alliance instrument (default srs)"
    )
    parser.add_argument("--rater", default="client", help="rater (default client)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_outcome(args: argparse.Namespace) -> int:
    from alliance.science.alliance_outcome import alliance_outcome

    frame = read_table(args)
    try:
        result = alliance_outcome(
            frame,
            instrument=args.instrument.lower(),
            alliance_instrument=args.alliance_instrument.lower(),
            rater=args.rater,
            first_k=args.first_k,
            outcome=args.outcome,
            closed_only=not args.include_open,
            by=args.by,
        )
    except AllianceDataError as error:
        raise CliError(str(error)) from error
    print(json.dumps(result, indent=2) if args.json else format_outcome(result))
    return 0


def format_outcome(result: dict[str, Any]) -> str:
    lines = list(result["overall"]["reading"])
    for label, group in result.get("groups", {}).items():
        lines.append("")
        lines.append(f"{label}:")
        lines.extend(f"  {line}" for line in group.get("reading", [group.get("error", "")]))
    return "\n".join(lines)


def run_profile(args: argparse.Namespace) -> int:
    from alliance.science.alliance_profile import alliance_profile, hard_to_engage

    frame = read_table(args)
    options = {
        "instrument": args.instrument.lower(),
        "alliance_instrument": args.alliance_instrument.lower(),
        "rater": args.rater,
    }
    try:
        profile = alliance_profile(frame, **options)
        hard = hard_to_engage(frame, **options)
    except AllianceDataError as error:
        raise CliError(str(error)) from error
    if args.therapist is not None:
        if args.therapist not in profile["therapists"]:
            raise CliError(f"no therapist {args.therapist!r} with alliance ratings in the table")
        profile["therapists"] = {args.therapist: profile["therapists"][args.therapist]}
        hard["therapists"] = {args.therapist: hard["therapists"].get(args.therapist)}
    result = {"profile": profile, "hard_to_engage": hard}
    print(json.dumps(result, indent=2) if args.json else format_profile(result))
    return 0


def _pct(share: dict[str, Any]) -> str:
    if share["share"] is None:
        return "no data"
    return f"{100 * share['share']:.0f}% ({100 * share['low']:.0f}-{100 * share['high']:.0f}%, n={share['n']})"


def format_profile(result: dict[str, Any]) -> str:
    profile, hard = result["profile"], result["hard_to_engage"]
    lines = [
        f"cutoff {profile['cutoff']:g}; {hard['definition']}",
        f"{'':<12} {'below cutoff':<24} {'first at ceiling':<24} {'ruptures repaired':<24} "
        f"{'hard: reliable improvement':<28}",
    ]
    rows = [("agency", profile["agency"], hard["agency"])] + [
        (tid, part, hard["therapists"].get(tid) or {"hard": None})
        for tid, part in profile["therapists"].items()
    ]
    for name, part, engagement in rows:
        hard_part = engagement["hard"]
        improvement = _pct(hard_part["reliable_improvement"]) if hard_part else "no data"
        lines.append(
            f"{name:<12} {_pct(part['below_cutoff']):<24} {_pct(part['first_at_ceiling']):<24} "
            f"{_pct(part['ruptures_repaired']):<24} {improvement:<28}"
        )
    return "\n".join(lines)
