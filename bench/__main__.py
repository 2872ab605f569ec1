"""``python -m bench [NAME ...]``: run the named benchmarks (all without names)."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench import BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    status = 0
    for name in args.names or BENCHMARKS:
        print(f"== {name}", flush=True)
        status = max(status, int(importlib.import_module(f"bench.{name}").main() or 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
