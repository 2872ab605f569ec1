"""Benchmark: `alliance effectiveness FILE --by therapist_id --json` against DuckDB, end to end.

Simulates 100,000 episodes / 500 therapists (about 1,000,000 administrations) to a CSV in a
temporary directory, then, alternating the two so that both see the same machine load:

* ``alliance effectiveness FILE.csv --by therapist_id --json`` in a subprocess: Python start-up,
  imports, reading and validating the CSV, every aggregate, JSON (targets: < 2 s, <= 1.5x DuckDB);
* ``python -m bench.effectiveness_duckdb FILE.csv`` in a subprocess: Python start-up, ``import
  duckdb``, DuckDB loading the CSV, SQL computing every per-therapist field of the CLI's JSON that
  SQL can compute (see that module), JSON.

Every number the SQL computes is compared with the CLI's (relative tolerance 1e-9); the run fails
when one differs. Also printed: peak RSS of both, the in-process steps (reading, the
aggregates), DuckDB's own load/query split, and the load average at each measurement.
Run: ``python -m bench effectiveness`` (``--episodes``, ``--therapists``, ``--repeats``,
``--file`` for an existing CSV or Parquet file).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.process import Run, best, load_average, run

TOLERANCE = 1e-9


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def best_of(repeats: int, function: Callable[[], Any]) -> tuple[float, Any]:
    runs = [timed(function) for _ in range(repeats)]
    return min(runs, key=lambda r: r[0])


def differences(sql: Any, ours: Any, path: str = "") -> tuple[list[str], int]:
    """Where the CLI's JSON differs from the SQL result (every leaf of the SQL result compared),
    and how many values were compared."""
    if isinstance(sql, dict):
        if not isinstance(ours, dict):
            return [f"{path}: {ours!r} is not an object"], 1
        found: list[str] = []
        compared = 0
        for key, value in sql.items():
            more, n = differences(value, ours.get(key, "<absent>"), f"{path}.{key}")
            found += more
            compared += n
        return found, compared
    if sql is None or ours is None or isinstance(sql, bool) or isinstance(ours, bool):
        same = sql is ours if sql is None or ours is None else sql == ours
    elif isinstance(sql, int | float) and isinstance(ours, int | float):
        same = math.isclose(sql, ours, rel_tol=TOLERANCE, abs_tol=1e-12)
    else:
        same = sql == ours
    return ([] if same else [f"{path}: SQL {sql!r}, CLI {ours!r}"]), 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench effectiveness")
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--file", help="an existing administrations CSV/Parquet (no simulation)")
    args = parser.parse_args(argv if argv is not None else [])

    from alliance.science.effectiveness import SMALL_SAMPLE, effectiveness
    from alliance.science.simulate import simulate
    from alliance.science.table import read_administrations
    from bench import effectiveness_duckdb

    if effectiveness_duckdb.SMALL != SMALL_SAMPLE:
        raise SystemExit("bench.effectiveness_duckdb.SMALL differs from SMALL_SAMPLE")
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        if args.file:
            path = Path(args.file)
        else:
            path = Path(folder) / "administrations.csv"
            report["simulate_s"], frame = timed(
                lambda: simulate(args.episodes, args.therapists, seed=1)
            )
            report["write_csv_s"], _ = timed(
                lambda: frame.to_csv(path, index=False, date_format="%Y-%m-%d")
            )
            del frame
        report["file_mb"] = path.stat().st_size / 2**20
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        constants = json.dumps(effectiveness_duckdb.constants())
        cli = [sys.executable, "-m", "alliance", "effectiveness", str(path)]
        cli += ["--by", "therapist_id", "--json"]
        duck = [sys.executable, "-m", "bench.effectiveness_duckdb", str(path)]
        duck += ["--constants", constants]
        cli_runs: list[Run] = []
        duck_runs: list[Run] = []
        for _ in range(args.repeats):  # alternate, so both see the same load
            cli_runs.append(run(cli, env))
            duck_runs.append(run(duck, env))
        ours, theirs = best(cli_runs), best(duck_runs)
        cli_json = json.loads(ours.stdout)
        duck_json = json.loads(theirs.stdout)

        report["read_s"], table = best_of(args.repeats, lambda: read_administrations(path))
        report["rows"] = len(table)
        report["effectiveness_by_therapist_s"], _ = best_of(
            args.repeats, lambda: effectiveness(table, by="therapist_id")
        )
        table = None  # free it before the report

    found, compared = differences(duck_json["groups"], cli_json["groups"])
    same_groups = set(duck_json["groups"]) == set(cli_json["groups"])
    ratio = ours.seconds / theirs.seconds
    print(f"file {path.name}: {report['rows']:,} administrations, {report['file_mb']:.0f} MB")
    for key in ("simulate_s", "write_csv_s", "read_s", "effectiveness_by_therapist_s"):
        if key in report:
            print(f"  in process  {key:34s} {report[key]:7.3f} s")
    print(f"  end to end (best of {args.repeats}, subprocess)      wall      CPU   peak RSS   load")
    for label, r in (("alliance effectiveness --by therapist_id", ours), ("DuckDB", theirs)):
        print(
            f"  {label:42s} {r.seconds:6.2f} s {r.cpu_seconds:6.2f} s {r.peak_rss_mb:6.0f} MB"
            f" {r.load:6.2f}"
        )
    print(f"  all runs, CLI:    {', '.join(f'{r.seconds:.2f}' for r in cli_runs)} s")
    print(f"  all runs, DuckDB: {', '.join(f'{r.seconds:.2f}' for r in duck_runs)} s")
    print(
        "  CPU ratio CLI / DuckDB (DuckDB's CPU counts both its threads): "
        f"{ours.cpu_seconds / theirs.cpu_seconds:.2f}x"
    )
    print(
        f"  DuckDB inside: load {duck_json['load_s']:.2f} s, queries {duck_json['query_s']:.2f} s"
    )
    print(
        f"ratio CLI / DuckDB end to end: {ratio:.2f}x (target <= 1.5x); CLI < 2 s: "
        f"{'yes' if ours.seconds < 2 else 'no'}"
    )
    print(f"check: {compared} values compared, {len(found)} differ; same therapists: {same_groups}")
    for line in found[:20]:
        print(f"  DIFFERENT {line}")
    print(
        f"cpu count {os.cpu_count()}, load average now {load_average():.2f}, "
        f"python {sys.version.split()[0]}"
    )
    return 0 if not found and same_groups else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
