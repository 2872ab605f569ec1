"""Benchmark: `alliance etr fit`, `alliance etr calibrate` and `alliance therapists` on a large file.

    .venv/bin/python -m bench etr     (or: .venv/bin/python bench/etr.py [--episodes 100000]
                                       [--therapists 500] [--seed 1] [--file F.csv])

Simulates the administrations table (about 1,000,000 rows for 100,000 episodes) unless --file is
given, then times each command end to end (process start, CSV reading, fitting, output) and the
in-process fit without the CSV reading. Target: `alliance etr fit` under 60 s on the 2-core CI box.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alliance.science import etr, therapists
from alliance.science.simulate import simulate
from alliance.science.table import read_administrations

ALLIANCE = str(Path(sys.executable).with_name("alliance"))


def timed(label: str, command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    print(f"{label:<48} {seconds:7.2f} s")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench etr", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--file", help="existing administrations CSV (skips the simulation)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        table = Path(args.file) if args.file else Path(folder) / "administrations.csv"
        if not args.file:
            simulate(args.episodes, args.therapists, seed=args.seed).to_csv(table, index=False)
        model = Path(folder) / "model.json"
        frame = read_administrations(table)
        print(f"{len(frame)} administrations, {frame['episode_id'].nunique()} episodes ({table})")
        start = time.perf_counter()
        fitted = etr.fit(frame)
        print(f"{'etr.fit in process (no CSV reading)':<48} {time.perf_counter() - start:7.2f} s")
        start = time.perf_counter()
        therapists.therapist_effects(frame)
        print(f"{'therapist_effects in process':<48} {time.perf_counter() - start:7.2f} s")
        print(f"  (fitted on {fitted.n_episodes} episodes, {fitted.n_administrations} scores)")
        timed(
            "alliance etr fit FILE -o model.json",
            [ALLIANCE, "etr", "fit", str(table), "-o", str(model)],
        )
        timed(
            "alliance etr calibrate FILE --model model.json",
            [ALLIANCE, "etr", "calibrate", str(table), "--model", str(model)],
        )
        timed("alliance therapists FILE", [ALLIANCE, "therapists", str(table)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
