"""The administrations table refuses what is impossible, naming the file, row and column; every
statistics command says so in one line on stderr and exits 2."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from alliance.cli import main
from alliance.science.etr import EtrError
from alliance.science.etr.fitting import _finite
from alliance.science.etr.model import EtrParameters
from alliance.science.simulate import simulate
from alliance.science.table import TableError, read_administrations

HEADER = "client_id,episode_id,therapist_id,session_number,session_date,instrument,rater,total"
GOOD = [
    "c1,e1,t1,1,2025-01-06,ors,client,20.0",
    "c1,e1,t1,2,2025-01-13,ors,client,24.5",
    "c1,e1,t1,1,2025-01-06,srs,client,38.0",
]


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def refusal(path: Path, **options: bool) -> str:
    with pytest.raises(TableError) as caught:
        read_administrations(path, **options)
    return str(caught.value)


def test_it_reads_a_good_table(tmp_path):
    frame = read_administrations(write(tmp_path, *GOOD))
    assert len(frame) == 3


def test_it_refuses_a_total_above_the_instruments_maximum_naming_file_row_and_column(tmp_path):
    path = write(tmp_path, *GOOD, "c1,e1,t1,3,2025-01-20,ors,client,41")
    message = refusal(path)
    assert message.startswith(str(path))
    assert "row 5" in message and "column total" in message and "between 0 and 40" in message


def test_it_refuses_a_negative_total(tmp_path):
    assert "row 2" in refusal(write(tmp_path, "c1,e1,t1,1,2025-01-06,phq9,client,-1"))


def test_it_refuses_an_item_outside_its_range(tmp_path):
    header = HEADER + ",item_1,item_2,item_3,item_4"
    path = write(tmp_path, "c1,e1,t1,1,2025-01-06,ors,client,20,11,3,3,3", header=header)
    message = refusal(path)
    assert "column item_1" in message and "between 0 and 10" in message


def test_it_refuses_item_scores_beyond_the_instruments_items(tmp_path):
    header = HEADER + ",item_1,item_2,item_3,item_4,item_5"
    path = write(tmp_path, "c1,e1,t1,1,2025-01-06,ors,client,20,5,5,5,5,1", header=header)
    assert "column item_5 must be empty: ors has 4 items" in refusal(path)


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_it_refuses_non_finite_totals_even_of_unknown_instruments(tmp_path, value):
    path = write(tmp_path, f"c1,e1,t1,1,2025-01-06,custom,client,{value}")
    assert "column total must be a finite number" in refusal(path)


def test_it_accepts_any_finite_total_of_an_instrument_it_does_not_know(tmp_path):
    frame = read_administrations(write(tmp_path, "c1,e1,t1,1,2025-01-06,custom,client,1234"))
    assert frame["total"].tolist() == [1234.0]


def test_it_refuses_a_session_number_that_is_not_whole(tmp_path):
    message = refusal(write(tmp_path, "c1,e1,t1,2.5,2025-01-06,ors,client,20"))
    assert "row 2" in message and "column session_number must be a whole number" in message


def test_it_refuses_two_different_rows_for_one_administration_even_when_asked_to_drop(tmp_path):
    path = write(tmp_path, *GOOD, "c1,e1,t1,2,2025-01-13,ors,client,30.0")
    message = refusal(path, drop_duplicates=True)
    assert "row 5" in message and "two different rows" in message


def test_it_refuses_identical_duplicates_unless_asked_to_drop_them(tmp_path):
    path = write(tmp_path, *GOOD, GOOD[1])
    assert "--drop-duplicates" in refusal(path)
    frame = read_administrations(path, drop_duplicates=True)
    assert len(frame) == 3 and frame["total"].tolist() == [20.0, 24.5, 38.0]


def test_the_same_session_on_two_instruments_or_raters_is_not_a_duplicate(tmp_path):
    path = write(tmp_path, *GOOD, "c1,e1,t1,1,2025-01-06,ors,parent,18.0")
    assert len(read_administrations(path)) == 4


def test_an_etr_fit_with_a_non_finite_parameter_is_refused():
    parameters = EtrParameters(0.1, -0.5, 20.0, 4.0, 0.0, math.nan, 9.0)
    with pytest.raises(EtrError, match="var_slope"):
        _finite(parameters)


@pytest.mark.parametrize(
    "command",
    [
        ["effectiveness"],
        ["etr", "fit", "-o", "model.json"],
        ["etr", "calibrate"],
        ["therapists"],
        ["alliance-outcome"],
    ],
)
def test_every_statistics_command_names_the_bad_row_in_one_line(tmp_path, capsys, command):
    path = write(tmp_path, *GOOD, "c1,e1,t1,3,2025-01-20,ors,client,55")
    argv = [*command[:2], str(path), *command[2:]] if command[0] == "etr" else [*command, str(path)]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert str(path) in err and "row 5" in err and "column total" in err


def test_the_drop_duplicates_option_reaches_the_reader(tmp_path, capsys):
    table = simulate(60, 4, seed=3)
    path = tmp_path / "simulated.csv"
    pd.concat([table, table.iloc[[5]]]).to_csv(path, index=False)
    assert main(["effectiveness", str(path), "--json"]) == 2
    assert "--drop-duplicates" in capsys.readouterr().err
    assert main(["effectiveness", str(path), "--json", "--drop-duplicates"]) == 0


def test_an_argument_error_is_one_line_not_a_usage_dump(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["effectiveness"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "usage:" not in err and "alliance effectiveness --help" in err


@pytest.mark.parametrize("seed", range(6))
def test_it_names_the_same_first_bad_score_as_the_loop_over_instruments(
    tmp_path, monkeypatch, seed
):
    # The range check looks at each column once; when it finds a score outside, the loop over
    # instruments and columns names the row. Here a few scores are pushed out of range, and
    # the message is the one the loop alone gives.
    import numpy as np

    from alliance.science import table

    frame = simulate(30, 3, seed=seed)
    rng = np.random.default_rng(seed)
    columns = ["total", *table.item_columns(frame.columns)]
    for _ in range(1 + seed % 3):
        row, column = int(rng.integers(len(frame))), columns[int(rng.integers(len(columns)))]
        frame.loc[row, column] = 99.0 if seed % 2 else -3.0
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False, date_format="%Y-%m-%d")
    message = refusal(path)
    monkeypatch.setattr(table, "_any_outside", lambda frame, items: True)
    assert refusal(path) == message
    assert "must be between" in message
