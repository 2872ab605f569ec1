"""The `alliance` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``; the module adds
its parser and sets ``func`` (called with the parsed namespace, returning an exit code).
Science subcommands import only ``alliance.science``; web subcommands set up Django lazily so
that ``alliance change`` works without a database.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

SUBCOMMAND_MODULES = (
    "change",
    "effectiveness",
    "etr",
    "therapists",
    "alliance_outcome",
    "simulate",
    "web",
    "token",
    "backup",
    "production",
)


# Which module registers each command, so that `alliance change ...` imports only what it needs
# (pandas/scipy/Django take seconds to import). Commands not listed here import every module.
COMMAND_MODULES: dict[str, str] = {
    "change": "change",
    "effectiveness": "effectiveness",
    "etr": "etr",
    "therapists": "therapists",
    "alliance-outcome": "alliance_outcome",
    "alliance-profile": "alliance_outcome",
    "simulate": "simulate",
    "demo": "web",
    "serve": "web",
    "worker": "web",
    "token": "token",
    "backup": "backup",
    "restore": "backup",
    "audit": "backup",
    "migrate": "production",
    "collectstatic": "production",
    "createadmin": "production",
    "check": "production",
    "reseal": "production",
    "retention": "production",
}


class CliError(Exception):
    """A user error: printed as one line on stderr, exit status 2."""


def modules_for(argv: list[str]) -> tuple[str, ...]:
    """The subcommand modules to import for this command line (all of them for help)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command in COMMAND_MODULES:
        return (COMMAND_MODULES[command],)
    return SUBCOMMAND_MODULES


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line pointing to --help, not a usage dump (scripts log stderr)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(modules: tuple[str, ...] = SUBCOMMAND_MODULES) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="alliance",
        description="Alliance: outcome and alliance feedback (ORS/SRS) for psychotherapy.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        module = importlib.import_module(f"alliance.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None, *, exit_at_once: bool = False) -> int:
    """Run one command line; its exit status. ``exit_at_once`` (the installed ``alliance`` and
    ``python -m alliance``): a command that asks for it (``set_defaults(exit_at_once=True)``)
    ends the process as soon as its output is flushed (``exit_now``)."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(modules_for(argv))
    args = parser.parse_args(argv)
    try:
        status = int(args.func(args) or 0)
    except CliError as error:
        print(f"alliance {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    if exit_at_once and getattr(args, "exit_at_once", False):
        exit_now(status)
    return status


def exit_now(status: int) -> None:
    """End the process now, once stdout and stderr are flushed, without the interpreter's
    teardown: for a statistics command that has printed its result and holds no file open for
    writing, the teardown of pandas, scipy and pyarrow is a tenth of its run (~0.1 s of
    `alliance effectiveness` on a million rows, docs/performance.md) and does nothing the user
    needs. When a flush fails (a closed pipe), the normal exit reports it as before."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        return
    os._exit(status)


def console() -> NoReturn:
    """The ``alliance`` command (pyproject's entry point) and ``python -m alliance``."""
    sys.exit(main(exit_at_once=True))


if __name__ == "__main__":
    console()
