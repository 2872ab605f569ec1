"""`alliance etr`: fit, predict and calibrate expected treatment response models (docs/etr.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from alliance.cli import CliError
from alliance.cli.tables import add_table_argument, read_table, without_items
from alliance.science.etr import (
    DEFAULT_MIN_EPISODES,
    EtrError,
    EtrModel,
    calibrate,
    default_model,
    fit,
    load_model,
)

PROVISIONAL_WARNING = "PROVISIONAL model, not your agency's reference data: {provenance}"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "etr",
        help="expected treatment response: fit, predict, calibrate",
        description="Expected treatment response (ETR) models. See docs/etr.md.",
    )
    actions = parser.add_subparsers(dest="etr_command", metavar="ACTION", required=True)
    _register_fit(actions)
    _register_predict(actions)
    _register_calibrate(actions)


def _register_fit(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "fit",
        help="fit a model on closed episodes of an administrations table",
        description="Fit an ETR model on the closed episodes (with >= 2 scores) of FILE (CSV or Parquet).",
    )
    add_table_argument(parser)
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.json", help="model file")
    parser.add_argument("--instrument", default="ors", help="instrument code (default ors)")
    parser.add_argument("--rater", default="client", help="rater (default client)")
    parser.add_argument(
        "--negative-percentile",
        type=float,
        default=25.0,
        metavar="P",
        help="percentile of the negative (off-track) line, 0 < P < 50 (default 25)",
    )
    parser.add_argument(
        "--min-episodes",
        type=int,
        default=DEFAULT_MIN_EPISODES,
        metavar="N",
        help=f"refuse to fit on fewer closed episodes (default {DEFAULT_MIN_EPISODES})",
    )
    parser.add_argument("--name", help="model name (default: instrument and date)")
    parser.add_argument("--provenance", help="provenance text stored in the model file")
    parser.add_argument("--provisional", action="store_true", help="mark the model as provisional")
    parser.set_defaults(func=run_fit)


def _register_predict(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "predict",
        help="target and negative trajectories for an intake",
        description="Target and negative ETR trajectories for sessions 1..N.",
    )
    parser.add_argument("--model", metavar="MODEL.json", help="model file (default: shipped)")
    parser.add_argument("--instrument", default="ors", help="default model's instrument (ors)")
    parser.add_argument("--intake", type=float, required=True, help="intake score")
    parser.add_argument("--sessions", type=int, default=12, metavar="N", help="sessions (12)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_predict)


def _register_calibrate(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "calibrate",
        help="check a model on held-out episodes",
        description=(
            "Predicted success probability vs observed reliable improvement by decile, and how "
            "well red at sessions 3-4 predicts a poor final outcome."
        ),
    )
    add_table_argument(parser, help="held-out administrations table")
    parser.add_argument("--model", metavar="MODEL.json", help="model file (default: shipped)")
    parser.add_argument("--instrument", default="ors", help="default model's instrument (ors)")
    parser.add_argument("--rater", default="client", help="rater (default client)")
    parser.add_argument(
        "--at-session", type=int, default=3, metavar="K", help="predict from sessions 1..K (3)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run_calibrate)


def run_fit(args: argparse.Namespace) -> int:
    frame = without_items(read_table(args))
    try:
        model = fit(
            frame,
            instrument=args.instrument.lower(),
            rater=args.rater,
            negative_percentile=args.negative_percentile,
            min_episodes=args.min_episodes,
            name=args.name,
            provenance=args.provenance,
            provisional=args.provisional,
        )
        model.save(args.output)
    except EtrError as error:
        raise CliError(str(error)) from error
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror or error}") from error
    p = model.parameters
    print(
        f"fitted {model.instrument.upper()} ETR on {model.n_episodes} episodes "
        f"({model.n_administrations} administrations) -> {args.output}\n"
        f"change per log(session) at intake {p.intake_centre:.1f}: {p.slope_at_centre:.2f} "
        f"(per intake point: {p.intake_slope:+.3f}); predictive SD at session 4: "
        f"{float(model.predictive_sd(4)):.2f}"
    )
    return 0


def run_predict(args: argparse.Namespace) -> int:
    model = _model(args.model, args.instrument)
    if args.sessions < 1:
        raise CliError(f"--sessions must be 1 or more, not {args.sessions}")
    try:
        trajectory = model.predict(args.intake, args.sessions)
    except EtrError as error:
        raise CliError(str(error)) from error
    result: dict[str, Any] = {
        "intake": _number(args.intake),
        "sessions": [int(s) for s in trajectory.sessions],
        "target": [round(float(v), 2) for v in trajectory.target],
        "negative": [round(float(v), 2) for v in trajectory.negative],
        "model": model.name if not model.provisional else model.provenance,
        "provisional": model.provisional,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    _warn_if_provisional(model)
    print(f"ETR for intake {args.intake:g} ({model.instrument.upper()}, model {model.name})")
    print(f"{'session':>7}  {'target':>6}  {'negative':>8}")
    for session, target, negative in zip(
        result["sessions"], result["target"], result["negative"], strict=True
    ):
        print(f"{session:>7}  {target:>6.1f}  {negative:>8.1f}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    model = _model(args.model, args.instrument)
    frame = read_table(args)
    if args.at_session < 2:
        raise CliError(f"--at-session must be 2 or more, not {args.at_session}")
    try:
        result = calibrate(frame, model, rater=args.rater, at_session=args.at_session)
    except EtrError as error:
        raise CliError(str(error)) from error
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _warn_if_provisional(model)
    print(format_calibration(result))
    return 0


def format_calibration(result: dict[str, Any]) -> str:
    success, red = result["success"], result["red_signal"]
    lines = [
        f"model {result['model']} on {result['n_episodes']} episodes ({result['instrument']})",
        f"success probability from sessions 1-{success['at_session']}: n = {success['n']}",
    ]
    if success["n"]:
        lines.append(
            f"  mean predicted {success['mean_predicted']:.3f}, observed "
            f"{success['observed_rate']:.3f}, Brier {success['brier']:.3f}, "
            f"AUC {_fmt(success['auc'])}"
        )
        lines.append("  group      n  predicted  observed")
        lines += [
            f"  {d['group']:>5}  {d['n']:>5}  {d['mean_predicted']:>9.3f}  {d['observed_rate']:>8.3f}"
            for d in success["deciles"]
        ]
    lines += [
        f"red at sessions {red['sessions'][0]}-{red['sessions'][1]} vs poor outcome "
        f"({result['poor_outcome']}): n = {red['n']}, poor = {red['n_poor']}, red = {red['n_red']}",
        f"  sensitivity {_fmt(red['sensitivity'])}, specificity {_fmt(red['specificity'])}, "
        f"AUC of red {_fmt(red['auc_red'])}, AUC of the lowest percentile "
        f"{_fmt(red['auc_percentile'])}",
    ]
    return "\n".join(lines)


def _model(path: str | None, instrument: str) -> EtrModel:
    try:
        return load_model(path) if path else default_model(instrument)
    except EtrError as error:
        raise CliError(str(error)) from error


def _warn_if_provisional(model: EtrModel) -> None:
    if model.provisional:
        print(PROVISIONAL_WARNING.format(provenance=model.provenance))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
