"""Reading administrations tables: CSV in chunks, Parquet by extension, the same validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alliance.cli import main
from alliance.science import table as table_module
from alliance.science.simulate import simulate
from alliance.science.table import TableError, read_administrations


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def test_a_table_read_in_chunks_equals_the_table_read_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(simulate(60, 3, seed=2), tmp_path / "a.csv")
    whole = read_administrations(path)
    monkeypatch.setattr(table_module, "CHUNK_ROWS", 7)
    pd.testing.assert_frame_equal(read_administrations(path), whole)


def test_chunks_with_numeric_looking_ids_or_no_value_join_the_text_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows 1-2: ids that look numeric and no ending; rows 3-4: text ids and an ending.
    frame = simulate(2, 1, seed=1).query("instrument == 'ors'").head(4).copy()
    frame["episode_id"] = ["11", "11", "E2", "E2"]
    frame["client_id"] = ["7", "7", "C2", "C2"]
    frame["session_number"] = [1, 2, 1, 2]
    frame["ending"] = [None, None, "planned", "planned"]
    path = write_csv(frame, tmp_path / "mixed.csv")
    monkeypatch.setattr(table_module, "CHUNK_ROWS", 2)
    read = read_administrations(path)
    assert list(read["episode_id"].astype(str)) == ["11", "11", "E2", "E2"]
    assert list(read["client_id"].astype(str)) == ["7", "7", "C2", "C2"]
    assert read["ending"].isna().tolist() == [True, True, False, False]


def test_a_bad_row_in_a_later_chunk_is_named_by_its_line_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = simulate(20, 2, seed=3)
    frame.loc[frame.index[-1], "total"] = 99.0
    path = write_csv(frame, tmp_path / "bad.csv")
    monkeypatch.setattr(table_module, "CHUNK_ROWS", 10)
    with pytest.raises(TableError, match=f"row {len(frame) + 1}: column total must be between"):
        read_administrations(path)


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
