"""The CSV reader through Arrow gives the frame pandas' C parser gives, or steps aside.

``_read_csv_arrow`` must return exactly ``pd.read_csv``'s frame (column types, category order,
code widths, missing values) whenever it returns one, so that validation messages and every
result stay the same; on files it cannot read the same way it returns None and pandas reads.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliance.science import csv_cells, table
from alliance.science.simulate import simulate
from alliance.science.table import TableError, read_administrations

HEADER = "client_id,episode_id,therapist_id,session_number,session_date,instrument,rater,total"


def pandas_frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=table._csv_dtypes(), keep_default_na=True, low_memory=False)


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_categorical=True)
    for column in expected.columns:
        assert got[column].dtype == expected[column].dtype, column
        if isinstance(expected[column].dtype, pd.CategoricalDtype):
            assert got[column].cat.codes.dtype == expected[column].cat.codes.dtype, column
            assert got[column].cat.categories.dtype == expected[column].cat.categories.dtype


def read_both(path: Path) -> pd.DataFrame | None:
    got = table._read_csv_arrow(path)
    if got is not None:
        assert_same_frame(got, pandas_frame(path))
    return got


def test_a_simulated_table_is_read_by_arrow_as_pandas_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    simulate(300, 7, seed=2).to_csv(path, index=False, date_format="%Y-%m-%d")
    assert read_both(path) is not None


ROWS = {
    "numeric-looking ids merge as pandas merges them": [
        "7,007,1.50,1,2024-01-01,ors,client,20",
        "8,E2,T,2,2024-01-02,ors,client,21",
    ],
    "ids all numbers": ["7,1,3,1,2024-01-01,ors,client,20", "8,2,3,2,2024-01-02,ors,client,21"],
    "booleans as ids": ["True,E,false,1,2024-01-01,ors,client,20", "TRUE,E,False,2,x,ors,c,2"],
    "missing values of every spelling": [
        "C,E,T,1,2024-01-01,ors,client,",
        "C,E,NA,2,2024-01-02,ors,client,NaN",
        "C,E,#N/A,3,2024-01-03,ors,client,null",
        "C,E,T,NULL,2024-01-04,n/a,client,<NA>",
    ],
    "numbers pandas reads and Arrow might read otherwise": [
        "C,E,T,0x10,2024-01-01,ors,client,NAN",
        "C,E,T,+1,2024-01-01,ors,client,+nan",
        "C,E,T,1.0,2024-01-01,ors,client,inf",
        "C,E,T,1e3,2024-01-01,ors,client,-Infinity",
        "C,E,T,01,2024-01-01,ors,client,1e500",
        "C,E,T, 1,2024-01-01,ors,client,.5",
        "C,E,T,9223372036854775808,2024-01-01,ors,client,5.",
    ],
    "text in a number column": ["C,E,T,one,2024-01-01,ors,client,20", "C,E,T,2,x,ors,client,a"],
    "seventeen digits": [
        "C,E,T,1,2024-01-01,ors,client,0.30000000000000004",
        "C,E,T,2,2024-01-01,ors,client,12.345678901234567",
        "C,E,T,3,2024-01-01,ors,client,1.0000000000000002e-5",
    ],
    "spaces around values": [
        "C , E,T,1 ,2024-01-01, ors,client,20 ",
        "C,E,T,2,2024-01-02,ors,client,1",
    ],
}


@pytest.mark.parametrize("case", sorted(ROWS))
def test_odd_values_read_as_pandas_reads_them(tmp_path: Path, case: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("\n".join([HEADER, *ROWS[case]]) + "\n", encoding="utf-8")
    read_both(path)


@pytest.mark.parametrize(
    "content",
    [
        HEADER + "\n",  # no rows
        "",  # empty
        HEADER + '\n"C,1",E,T,1,2024-01-01,ors,client,20\n',  # quoting
        HEADER + "\nC,E,T,1,2024-01-01,ors,client\n",  # a short row
        HEADER + "\nC,E,T,1,2024-01-01,ors,client,20,9\n",  # a long row
        HEADER + "\n   \nC,E,T,1,2024-01-01,ors,client,20\n",  # a line of spaces
        HEADER + ",total\nC,E,T,1,2024-01-01,ors,client,20,3\n",  # a repeated name
        HEADER + ",\nC,E,T,1,2024-01-01,ors,client,20,3\n",  # an unnamed column
    ],
)
def test_files_arrow_cannot_read_alike_go_to_pandas(tmp_path: Path, content: str) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(content, encoding="utf-8")
    assert table._read_csv_arrow(path) is None


@pytest.mark.parametrize(
    "content",
    [
        "\ufeff" + HEADER + "\nC,E,T,1,2024-01-01,ors,client,20\n",  # a byte order mark
        HEADER + "\r\nC,E,T,1,2024-01-01,ors,client,20\r\n\r\n",  # Windows line ends
        HEADER + "\n\nC,E,T,1,2024-01-01,ors,client,20\n\nC,E,T,2,2024-01-08,ors,client,21",
        HEADER + ",site,ending\nC,E,T,1,2024-01-01,ors,client,20,3,\nC,E,T,2,2024-01-08,ors,"
        "client,21,x,",  # extra columns; an ending column with no value
        HEADER + ",flag\nC,E,T,1,2024-01-01,ors,client,20,True\nC,E,T,2,x,ors,c,21,false",
    ],
)
def test_plain_variants_are_read_by_arrow(tmp_path: Path, content: str) -> None:
    path = tmp_path / "plain.csv"
    path.write_text(content, encoding="utf-8")
    assert read_both(path) is not None


def test_a_compressed_or_other_file_goes_to_pandas(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    simulate(5, 1, seed=1).to_csv(path, index=False, date_format="%Y-%m-%d")
    assert table._read_csv_arrow(path) is None
    assert len(read_administrations(path)) > 0


def test_invalid_utf8_is_refused_with_pandas_message(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "\nC\xe9,E,T,1,2024-01-01,ors,client,20\n").encode("latin-1"))
    assert table._read_csv_arrow(path) is None
    with pytest.raises(TableError, match="cannot read the administrations table"):
        read_administrations(path)


def test_validation_messages_are_those_of_pandas_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for case, rows in ROWS.items():
        path = tmp_path / "odd.csv"
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        messages = []
        for arrow in (True, False):
            if not arrow:
                monkeypatch.setattr(table, "_read_csv_arrow", lambda path: None)
            try:
                read_administrations(path)
                messages.append("")
            except TableError as error:
                messages.append(str(error))
        monkeypatch.undo()
        assert messages[0] == messages[1], case


TOKENS = st.sampled_from(
    ["", "NA", "nan", "NaN", "1", "01", "2.5", "-3", "1e2", "x", "True", "false", "0x1", " 7"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(st.tuples(TOKENS, TOKENS, TOKENS), min_size=1, max_size=12),
    with_text=st.booleans(),
)
def test_any_mix_of_tokens_reads_as_pandas_reads_it(
    tmp_path: Path, cells: list[tuple[str, str, str]], with_text: bool
) -> None:
    path = tmp_path / "mix.csv"
    lines = ["therapist_id,total,other"]
    lines += [",".join(row) for row in cells]
    if with_text:
        lines.append("T,5,word")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = table._read_csv_arrow(path)
    if got is not None:
        assert_same_frame(got, pandas_frame(path))


def test_the_missing_texts_are_pandas_own() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(csv_cells.NA_TEXTS) == set(STR_NA_VALUES)


@pytest.mark.parametrize("column", [0, 3, 7])
def test_a_double_quote_in_any_cell_sends_the_file_to_pandas(tmp_path: Path, column: int) -> None:
    row = ["C", "E", "T", "1", "2024-01-01", "ors", "client", "20"]
    row[column] = 'x"y'
    path = tmp_path / "quote.csv"
    path.write_text(HEADER + "\nC,E,T,2,2024-01-02,ors,client,21\n" + ",".join(row) + "\n")
    assert table._read_csv_arrow(path) is None


def test_it_reads_the_same_frame_from_cells_started_in_a_thread(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    simulate(200, 5, seed=3).to_csv(path, index=False, date_format="%Y-%m-%d")
    pending = csv_cells.start_reading(path)
    assert pending is not None
    frame = read_administrations(path, pending=pending)
    pd.testing.assert_frame_equal(frame, read_administrations(path), check_exact=True)


def test_it_starts_no_thread_for_other_files(tmp_path: Path) -> None:
    assert csv_cells.start_reading(tmp_path / "a.parquet") is None
    assert csv_cells.start_reading(tmp_path / "a.csv.gz") is None


def test_a_missing_file_started_early_is_named_as_before(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    pending = csv_cells.start_reading(path)
    with pytest.raises(TableError, match="file not found"):
        read_administrations(path, pending=pending)
