"""Scale: time and peak memory of `alliance effectiveness` and `alliance etr fit` by table size.

``python -m bench scale`` (``--sizes 10000,100000,300000`` episodes, about 10 administrations
each: 0.1M / 1M / 3M rows) simulates each table to a CSV, then runs each command end to end in
a subprocess (best of ``--repeats``) and prints, per command and size: seconds, seconds per
million rows, peak RSS, peak RSS above the command's start-up (the same command on a 1,000-episode
table), that per million rows, and that as a multiple of the CSV's size. The memory target is
under 2x the CSV size: the data-dependent memory, since a Python process with pandas and scipy
loaded already takes ~100 MB whatever the table. The load average is printed with each row.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench.process import Run, best, run


def commands(table: Path, folder: Path) -> dict[str, list[str]]:
    alliance = [sys.executable, "-m", "alliance"]
    return {
        "effectiveness --by therapist_id --json": [
            *alliance,
            "effectiveness",
            str(table),
            "--by",
            "therapist_id",
            "--json",
        ],
        "etr fit -o model.json": [
            *alliance,
            "etr",
            "fit",
            str(table),
            "-o",
            str(folder / "m.json"),
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--sizes", default="10000,100000,300000", help="episodes per table")
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv if argv is not None else [])

    from alliance.science.simulate import simulate

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[tuple[str, int, float, Run, float]] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        start_up: dict[str, float] = {}
        small = folder / "small.csv"
        simulate(1000, 20, seed=1).to_csv(small, index=False, date_format="%Y-%m-%d")
        for label, command in commands(small, folder).items():
            start_up[label] = min(run(command, env).peak_rss_mb for _ in range(args.repeats))
        for episodes in sizes:
            table = folder / f"administrations-{episodes}.csv"
            frame = simulate(episodes, min(args.therapists, max(1, episodes // 20)), seed=1)
            n_rows = len(frame)
            frame.to_csv(table, index=False, date_format="%Y-%m-%d")
            del frame
            csv_mb = table.stat().st_size / 2**20
            for label, command in commands(table, folder).items():
                measured = best([run(command, env) for _ in range(args.repeats)])
                rows.append((label, n_rows, csv_mb, measured, start_up[label]))
                print_row(*rows[-1], flush=True)
            table.unlink()
    print()
    print(
        "| command | rows | CSV MB | time (s) | CPU (s) | s per M rows | peak RSS MB"
        " | above start-up MB | MB per M rows | x CSV | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(markdown_row(*row))
    print(
        "\nstart-up peak RSS (1,000 episodes, ~10,000 rows): "
        + ", ".join(f"{k} {v:.0f} MB" for k, v in start_up.items())
    )
    print(f"cpu count {os.cpu_count()}, python {sys.version.split()[0]}")
    return 0


def _numbers(n_rows: int, csv_mb: float, r: Run, base: float) -> tuple[float, float, float, float]:
    millions = n_rows / 1e6
    above = max(r.peak_rss_mb - base, 0.0)
    return r.seconds / millions, above, above / millions, above / csv_mb


def print_row(label: str, n_rows: int, csv_mb: float, r: Run, base: float, flush: bool) -> None:
    per_m, above, above_m, x_csv = _numbers(n_rows, csv_mb, r, base)
    print(
        f"{label:40s} {n_rows:>9,} rows {csv_mb:6.0f} MB  {r.seconds:6.2f} s ({per_m:5.2f} s/M,"
        f" CPU {r.cpu_seconds:.2f} s)"
        f"  peak {r.peak_rss_mb:5.0f} MB, +{above:4.0f} MB ({above_m:4.0f} MB/M, {x_csv:.2f}x CSV)"
        f"  load {r.load:.2f}",
        flush=flush,
    )


def markdown_row(label: str, n_rows: int, csv_mb: float, r: Run, base: float) -> str:
    per_m, above, above_m, x_csv = _numbers(n_rows, csv_mb, r, base)
    return (
        f"| `alliance {label}` | {n_rows:,} | {csv_mb:.0f} | {r.seconds:.2f} | {r.cpu_seconds:.2f}"
        f" | {per_m:.2f} | {r.peak_rss_mb:.0f} | {above:.0f} | {above_m:.0f} | {x_csv:.2f}"
        f" | {r.load:.1f} |"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
