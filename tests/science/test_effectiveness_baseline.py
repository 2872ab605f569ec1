"""The benchmark's DuckDB baseline (bench/effectiveness_duckdb.py) must compute the same numbers as
`alliance effectiveness --by therapist_id`, or the benchmark's ratio compares different work."""

from __future__ import annotations

from pathlib import Path

import duckdb

from alliance.science.effectiveness import effectiveness
from alliance.science.simulate import simulate
from alliance.science.table import read_administrations
from bench import effectiveness_duckdb as baseline
from bench.effectiveness import differences


def test_the_duckdb_baseline_computes_the_same_per_therapist_numbers(tmp_path: Path) -> None:
    path = tmp_path / "administrations.csv"
    simulate(600, 6, seed=11).to_csv(path, index=False, date_format="%Y-%m-%d")
    connection = duckdb.connect()
    baseline.load(connection, str(path))
    theirs = baseline.compute(connection, baseline.constants())
    ours = effectiveness(read_administrations(path), by="therapist_id")["groups"]
    found, compared = differences(theirs, ours)
    assert found == []
    assert set(theirs) == set(ours)
    assert compared > 6 * 70


def test_the_comparison_reports_a_number_that_differs() -> None:
    found, compared = differences({"a": {"b": 1.0, "c": None}}, {"a": {"b": 1.1, "c": None}})
    assert compared == 2
    assert found == [".a.b: SQL 1.0, CLI 1.1"]
