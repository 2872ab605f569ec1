"""Reading administrations tables: CSV, or Parquet by its extension, with the same validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alliance.cli import main
from alliance.science.simulate import simulate
from alliance.science.table import TableError, read_administrations


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def test_a_bad_row_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    frame = simulate(20, 2, seed=3)
    frame.loc[frame.index[-1], "total"] = 99.0
    path = write_csv(frame, tmp_path / "bad.csv")
    with pytest.raises(TableError, match=f"row {len(frame) + 1}: column total must be between"):
        read_administrations(path)


def test_repeated_administrations_are_found_in_any_row_order(tmp_path: Path) -> None:
    frame = simulate(30, 2, seed=8).sample(frac=1.0, random_state=1)
    repeated = pd.concat([frame, frame.iloc[[4]]]).sample(frac=1.0, random_state=2)
    path = write_csv(repeated, tmp_path / "twice.csv")
    with pytest.raises(TableError, match="the same administration twice"):
        read_administrations(path)
    assert len(read_administrations(path, drop_duplicates=True)) == len(frame)


def test_a_parquet_table_is_read_like_the_same_csv(tmp_path: Path) -> None:
    frame = simulate(80, 4, seed=4)
    csv = write_csv(frame, tmp_path / "a.csv")
    parquet = tmp_path / "a.parquet"
    pd.read_csv(csv).to_parquet(parquet, index=False)
    pd.testing.assert_frame_equal(
        read_administrations(parquet), read_administrations(csv), check_categorical=False
    )


def test_a_parquet_table_is_validated_like_a_csv(tmp_path: Path) -> None:
    frame = simulate(10, 1, seed=5)
    frame.loc[frame.index[3], "total"] = -1.0
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, index=False)
    with pytest.raises(TableError, match="bad.parquet: row 5: column total must be between"):
        read_administrations(path)


def test_parquet_without_its_reader_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise ImportError("Unable to find a usable engine")

    monkeypatch.setattr(pd, "read_parquet", missing)
    path = tmp_path / "a.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(TableError, match="a.parquet: reading Parquet needs pyarrow"):
        read_administrations(path)


def test_a_file_that_is_not_parquet_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "not.parquet"
    path.write_text("client_id,episode_id\n")
    assert main(["effectiveness", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "not.parquet" in error
    assert "\n" not in error


def test_the_effectiveness_command_gives_the_same_json_for_parquet_and_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_csv(simulate(150, 5, seed=6), tmp_path / "a.csv")
    parquet = tmp_path / "a.parquet"
    pd.read_csv(csv).to_parquet(parquet, index=False)
    results = []
    for path in (csv, parquet):
        assert main(["effectiveness", str(path), "--by", "therapist_id", "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0] == results[1]
    assert len(results[0]["groups"]) == 5
