"""The administrations table built from the database feeds the science core the same numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from alliance.reports.data import ReportFilter, administrations_frame, scoped_episodes
from alliance.science.effectiveness import effectiveness, pre_post
from alliance.science.table import validate_administrations
from alliance.science.therapists import therapist_effects


def assert_same(ours, theirs, path="result"):
    """Equal structure and values; floats equal up to summation order (rows come in any order)."""
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), path
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), path
    else:
        assert ours == theirs, path


def test_the_database_table_gives_the_science_core_the_same_numbers(history):
    alice = history.personas.alice
    frame = administrations_frame(scoped_episodes(alice, ReportFilter()))
    validate_administrations(frame)
    assert len(frame) == len(history.frame)
    ours = effectiveness(frame, by="quarter")
    theirs = effectiveness(history.frame, by="quarter")
    assert_same(ours["overall"], theirs["overall"])
    assert_same(ours["groups"], theirs["groups"])
    assert_same(pre_post(frame), pre_post(history.frame))
    assert therapist_effects(frame).icc == pytest.approx(therapist_effects(history.frame).icc)


def test_a_report_table_never_holds_another_agencys_rows(history):
    olga = history.personas.olga
    frame = administrations_frame(scoped_episodes(olga, ReportFilter()))
    riverside = {str(pk) for pk in (e.pk for e in history.episodes.values())}
    assert len(frame) > 0
    assert not set(frame["episode_id"]) & riverside


def test_filters_narrow_the_table_to_a_team_a_therapist_and_an_age_band(history):
    p = history.personas
    by_team = administrations_frame(scoped_episodes(p.alice, ReportFilter(team_id=p.north.pk)))
    assert set(by_team["team_id"]) == {str(p.north.pk)}
    expected = history.frame[history.frame["therapist_id"].isin(["T0001", "T0002"])]
    assert len(by_team) == len(expected)
    by_therapist = administrations_frame(
        scoped_episodes(p.alice, ReportFilter(therapist_id=p.tara.pk))
    )
    assert set(by_therapist["therapist_id"]) == {str(p.tara.pk)}
    assert len(by_therapist) == (history.frame["therapist_id"] == "T0001").sum()
    children = administrations_frame(scoped_episodes(p.alice, ReportFilter(age_band="child")))
    assert len(children) == (history.frame["age_band"] == "child").sum()
    assert set(children["instrument"]) <= {"cors", "csrs"}


def test_the_instrument_filter_keeps_the_outcome_scale_and_its_alliance_scale(history):
    alice = history.personas.alice
    report_filter = ReportFilter(instrument="ors")
    frame = administrations_frame(
        scoped_episodes(alice, report_filter), report_filter.instruments()
    )
    assert set(frame["instrument"]) == {"ors", "srs"}
    assert len(frame) == history.frame["instrument"].isin(["ors", "srs"]).sum()


def test_positions_of_finds_ids_dense_or_sparse_and_marks_the_missing():
    import numpy as np

    from alliance.reports.data import positions_of

    dense = np.array([7, 3, 5, 4], dtype=np.int64)
    values = np.array([3, 7, 6, 4, 100, -1, 5], dtype=np.int64)
    assert positions_of(dense, values).tolist() == [1, 0, -1, 3, -1, -1, 2]
    sparse = dense * 10_000  # far apart: the sorted lookup instead of an array indexed by id
    assert positions_of(sparse, values * 10_000).tolist() == [1, 0, -1, 3, -1, -1, 2]
    assert positions_of(np.array([], dtype=np.int64), values).tolist() == [-1] * len(values)
    assert positions_of(dense, np.array([], dtype=object)).tolist() == []


def test_the_column_reader_gives_the_rows_of_the_queryset_with_missing_values_missing(history):
    # On PostgreSQL the columns come packed per group of text values, in any row order: they must
    # hold exactly the queryset's rows, with NULL and empty text as missing values.
    import numpy as np

    from alliance.care.models import Client
    from alliance.reports.data import (
        ADMINISTRATION_FIELDS,
        EPISODE_FIELDS,
        SESSION_FIELDS,
        administration_queryset,
        episode_queryset,
        fetch_columns,
        session_queryset,
    )

    alice = history.personas.alice
    agency = history.personas.riverside.pk
    episodes = scoped_episodes(alice, ReportFilter())
    first = episodes.order_by("pk")[0]
    Client.objects.filter(pk=first.client_id).update(team=None)
    assert episodes.filter(ending="").exists()

    def text(value) -> str:
        if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
            return "(missing)"
        return str(value)

    def texts(values) -> list[str]:
        if np.asarray(values).dtype.kind == "M":  # dates (datetime64)
            return [str(day) for day in pd.to_datetime(values).date]
        return [text(value) for value in np.asarray(values, dtype=object)]

    for queryset, fields in (
        (episode_queryset(episodes), EPISODE_FIELDS),
        (session_queryset(episodes, agency), SESSION_FIELDS),
        (administration_queryset(episodes, agency, ("ors", "srs")), ADMINISTRATION_FIELDS),
    ):
        columns = fetch_columns(queryset, fields)
        assert list(columns) == list(fields)
        read = sorted(zip(*(texts(columns[field]) for field in fields), strict=True))
        expected = sorted(tuple(map(text, row)) for row in queryset)
        assert len(read) > 1 and read == expected
        for field in ("total", "number", "pk", "episode_id"):
            if field in columns:
                assert columns[field].dtype.kind in "if", field
    empty = fetch_columns(session_queryset(episodes.none(), agency), SESSION_FIELDS)
    assert all(len(values) == 0 for values in empty.values())
    teams = fetch_columns(episode_queryset(episodes), EPISODE_FIELDS)
    assert sum(pd.isna(team) for team in teams["client__team_id"]) == 1


def test_on_postgresql_a_narrow_report_reads_rows_by_episode_ids_not_the_visibility_rule(
    history,
):
    # With fresh statistics PostgreSQL planned the visibility subquery as a nested loop per
    # administration (13 s for a supervisor's report in a browser test): the ids read first are
    # passed on instead. SQLite keeps the subquery (it limits the number of bound values).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sam = history.personas.sam
    with CaptureQueriesContext(connection) as queries:
        frame = administrations_frame(scoped_episodes(sam, ReportFilter()))
    assert len(frame) and len(frame) < len(history.frame)
    # Every read is logged through Django's cursor on both databases, the sessions' once.
    reads = [q["sql"] for q in queries.captured_queries if '"care_session"."number"' in q["sql"]]
    assert len(reads) == 1
    through_visibility = "accounts_teammembership" in reads[0]
    assert through_visibility == (connection.vendor != "postgresql")


# Where each column of the science table comes from, read by the streaming mode.
STREAMED_AS_FRAME = {
    "client_id": "episode__client_id",
    "episode_id": "episode_id",
    "therapist_id": "episode__client__therapist_id",
    "team_id": "episode__client__team_id",
    "session_number": "session__number",
    "session_date": "session__date",
    "instrument": "instrument",
    "rater": "rater",
    "total": "total",
    "age_band": "episode__client__age_band",
    "ending": "episode__ending",
}


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_the_streaming_mode_yields_the_same_rows_as_the_frame_mode(history, who):
    from alliance.reports.data import FRAME_COLUMNS, administration_stream

    user = getattr(history.personas, who)
    report_filter = ReportFilter(instrument="ors")
    episodes = scoped_episodes(user, report_filter)
    frame = administrations_frame(episodes, report_filter.instruments())
    assert set(STREAMED_AS_FRAME) == set(FRAME_COLUMNS) == set(frame.columns)
    streamed = list(
        administration_stream(
            episodes,
            history.personas.riverside.pk,
            tuple(STREAMED_AS_FRAME.values()),
            instruments=report_filter.instruments(),
        )
    )

    def as_text(value) -> str:
        if value is None or value == "" or (isinstance(value, float) and value != value):
            return ""
        if hasattr(value, "date") and callable(value.date):  # a pandas Timestamp
            value = value.date()
        return str(value)

    ours = [tuple(as_text(v) for v in row) for row in streamed]
    columns = frame[list(STREAMED_AS_FRAME)]
    theirs = [tuple(as_text(v) for v in row) for row in columns.itertuples(index=False)]
    assert len(ours) == len(theirs) > 100
    assert sorted(ours) == sorted(theirs)
    # The stream comes in the order of each episode's history.
    keys = [(int(row[1]), int(row[4]), row[6], row[7]) for row in streamed]
    assert keys == sorted(keys)
