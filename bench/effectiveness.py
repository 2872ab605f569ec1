"""Benchmark of `alliance effectiveness` on ~1,000,000 simulated administrations.

Simulates 100,000 episodes / 500 therapists to a CSV in a temporary directory, then times:

* ``alliance effectiveness FILE.csv --json`` end to end in a subprocess (target < 5 s);
* in process: reading the table, ``effectiveness()`` (everything) and ``pre_post()`` (the
  pre-post numbers only);
* the baselines over the same data in the same run: one hand-written DuckDB SQL query and one
  Polars group-by computing the same pre-post numbers (per-episode intake/final, mean change,
  SD of intake, ES, % reliable improvement), each on data already loaded and including the load.

It prints the ratios core/baseline (target: within 3x) and checks that all give the same numbers.
Run: ``python -m bench effectiveness`` (``--episodes``/``--therapists`` to change the size).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RELIABLE_CHANGE = 5.0  # ORS points, as in the shipped instrument definition

DUCKDB_QUERY = """
WITH episodes AS (
    SELECT episode_id,
           arg_min(total, session_number) AS intake,
           arg_max(total, session_number) AS final,
           count(*) AS n_scores
    FROM administrations
    WHERE instrument = 'ors' AND rater = 'client' AND total IS NOT NULL
    GROUP BY episode_id
)
SELECT count(*) AS n_used,
       avg(final - intake) AS change_mean,
       stddev_samp(intake) AS intake_sd,
       avg(final - intake) / stddev_samp(intake) AS es,
       avg(CASE WHEN final - intake > {rc} THEN 1.0 ELSE 0.0 END) AS improved
FROM episodes
WHERE n_scores >= 2
"""


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def best_of(repeats: int, function: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeats`` runs: the least disturbed by other work on the machine."""
    runs = [timed(function) for _ in range(repeats)]
    return min(runs, key=lambda run: run[0])


def duckdb_baseline(connection: Any) -> dict[str, float]:
    row = connection.execute(DUCKDB_QUERY.format(rc=RELIABLE_CHANGE)).fetchone()
    return dict(zip(("n_used", "change_mean", "intake_sd", "es", "improved"), row, strict=True))


def polars_baseline(table: Any) -> dict[str, float]:
    import polars as pl

    episodes = (
        table.lazy()
        .filter(
            (pl.col("instrument") == "ors")
            & (pl.col("rater") == "client")
            & pl.col("total").is_not_null()
        )
        .group_by("episode_id")
        .agg(
            pl.col("total").sort_by("session_number").first().alias("intake"),
            pl.col("total").sort_by("session_number").last().alias("final"),
            pl.len().alias("n_scores"),
        )
        .filter(pl.col("n_scores") >= 2)
        .with_columns((pl.col("final") - pl.col("intake")).alias("change"))
        .select(
            pl.len().alias("n_used"),
            pl.col("change").mean().alias("change_mean"),
            pl.col("intake").std().alias("intake_sd"),
            (pl.col("change").mean() / pl.col("intake").std()).alias("es"),
            (pl.col("change") > RELIABLE_CHANGE).mean().alias("improved"),
        )
        .collect()
    )
    return {k: float(v) for k, v in episodes.row(0, named=True).items()}


def same_numbers(ours: dict[str, Any], theirs: dict[str, float]) -> bool:
    pairs = [
        (ours["n_used"], theirs["n_used"]),
        (ours["change_mean"], theirs["change_mean"]),
        (ours["intake_sd"], theirs["intake_sd"]),
        (ours["es"]["value"] if isinstance(ours["es"], dict) else ours["es"], theirs["es"]),
        (ours["reliable_improvement"]["proportion"], theirs["improved"]),
    ]
    return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs)


def alliance_command() -> list[str]:
    return [sys.executable, "-m", "alliance"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench effectiveness")
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--therapists", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv if argv is not None else [])

    import duckdb
    import polars as pl

    from alliance.science.effectiveness import effectiveness, pre_post
    from alliance.science.simulate import simulate
    from alliance.science.table import read_administrations

    report: dict[str, Any] = {"episodes": args.episodes, "therapists": args.therapists}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "administrations.csv"
        report["simulate_s"], frame = timed(
            lambda: simulate(args.episodes, args.therapists, seed=1)
        )
        report["rows"] = len(frame)
        report["write_csv_s"], _ = timed(
            lambda: frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        )

        command = [*alliance_command(), "effectiveness", str(path), "--json"]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        report["cli_s"], completed = best_of(
            args.repeats,
            lambda: subprocess.run(command, capture_output=True, text=True, check=True, env=env),
        )
        cli_result = json.loads(completed.stdout)

        report["read_s"], table = best_of(args.repeats, lambda: read_administrations(path))
        report["effectiveness_s"], result = best_of(args.repeats, lambda: effectiveness(table))
        report["effectiveness_by_therapist_s"], _ = best_of(
            args.repeats, lambda: effectiveness(table, by="therapist_id")
        )
        report["pre_post_s"], core = best_of(args.repeats, lambda: pre_post(table))

        connection = duckdb.connect()
        report["duckdb_load_s"], _ = best_of(
            1,
            lambda: connection.execute(
                "CREATE TABLE administrations AS SELECT * FROM read_csv_auto(?)", [str(path)]
            ),
        )
        report["duckdb_query_s"], duck = best_of(args.repeats, lambda: duckdb_baseline(connection))
        report["polars_load_s"], polars_table = best_of(args.repeats, lambda: pl.read_csv(path))
        report["polars_query_s"], polar = best_of(
            args.repeats, lambda: polars_baseline(polars_table)
        )

    checks = {
        "pre_post == duckdb": same_numbers(core, duck),
        "pre_post == polars": same_numbers(core, polar),
        "effectiveness == duckdb": same_numbers(result["overall"], duck),
        "cli == duckdb": same_numbers(cli_result["overall"], duck),
    }
    ratios = {
        "pre_post / duckdb query": report["pre_post_s"] / report["duckdb_query_s"],
        "pre_post / polars query": report["pre_post_s"] / report["polars_query_s"],
        "effectiveness (all fields) / duckdb query": report["effectiveness_s"]
        / report["duckdb_query_s"],
        "read + pre_post / duckdb load + query": (report["read_s"] + report["pre_post_s"])
        / (report["duckdb_load_s"] + report["duckdb_query_s"]),
        "read + pre_post / polars load + query": (report["read_s"] + report["pre_post_s"])
        / (report["polars_load_s"] + report["polars_query_s"]),
    }
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    for key, value in report.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    for key, value in ratios.items():
        print(f"ratio {key:48s} {value:.2f}x")
    for key, ok in checks.items():
        print(f"check {key:30s} {'same numbers' if ok else 'DIFFERENT'}")
    print(f"pre-post: {json.dumps(core)}")
    print(f"duckdb:   {json.dumps(duck)}")
    print(f"cpu count {os.cpu_count()}, load average {load:.2f}, python {sys.version.split()[0]}")
    return 0 if all(checks.values()) else 1
