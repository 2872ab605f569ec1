"""The administrations table built from the database feeds the science core the same numbers."""

from __future__ import annotations

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
