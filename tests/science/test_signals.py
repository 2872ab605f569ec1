"""Session colours, alliance flags and episode alerts, checked on hand-made episodes."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.science.instruments import get_instrument
from alliance.science.signals import (
    COLOURS,
    Alert,
    AllianceScore,
    SignalConfig,
    alliance_colour,
    evaluate_episode,
    ordinal,
    outcome_colour,
)

RANK = {"green": 0, "orange": 1, "red": 2}


class LinearModel:
    """A stand-in for the ETR model: target = intake + gain * (session - 1), and the negative
    line ``width`` points on the worse side of the target (below it when higher is better)."""

    def __init__(self, gain: float = 2.0, width: float = 3.0, higher_is_better: bool = True):
        self.gain, self.width = gain, width
        self.direction = 1 if higher_is_better else -1
        self.calls: list[tuple[float, list[int]]] = []

    def predict(self, intake: float, sessions) -> SimpleNamespace:
        sessions = np.asarray(sessions)
        self.calls.append((intake, sessions.tolist()))
        target = intake + self.gain * (sessions - 1)
        return SimpleNamespace(
            sessions=sessions,
            intake=intake,
            target=target,
            negative=target - self.direction * self.width,
        )


class FailingModel:
    def predict(self, intake, sessions):
        raise AssertionError("the model must not be asked with fewer than two scores")


def codes(signals) -> list[str]:
    return [alert.code for alert in signals.alerts]


def alert(signals, code: str) -> Alert:
    found = [a for a in signals.alerts if a.code == code]
    assert len(found) == 1, signals.alerts
    return found[0]


# ---------------------------------------------------------------------------------------------
# Ordinals


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
    ],
)
def test_ordinals_are_right(n: int, text: str) -> None:
    assert ordinal(n) == text


# ---------------------------------------------------------------------------------------------
# Outcome colours


@pytest.mark.parametrize(
    ("score", "n_scores", "colour"),
    [
        (5.0, 1, "grey"),  # only one score so far, however low
        (30.0, 2, "green"),
        (24.0, 2, "green"),  # exactly on target
        (23.9, 2, "orange"),
        (21.0, 2, "orange"),  # exactly on the negative line
        (20.9, 2, "red"),
    ],
)
def test_outcome_colour_follows_the_openfit_rules(score: float, n_scores: int, colour: str) -> None:
    assert outcome_colour(score, target=24.0, negative=21.0, n_scores=n_scores) == colour


@pytest.mark.parametrize(
    ("score", "colour"),
    [(8.0, "green"), (12.0, "green"), (12.5, "orange"), (15.0, "orange"), (15.5, "red")],
)
def test_outcome_colour_is_mirrored_when_lower_is_better(score: float, colour: str) -> None:
    # PHQ-9: target 12, negative line 15 (above the target, because higher is worse).
    assert outcome_colour(score, 12.0, 15.0, 3, higher_is_better=False) == colour


def test_outcome_colour_treats_float_noise_in_the_target_as_on_target() -> None:
    assert outcome_colour(25.0, 25.000000000001, 22.0, 2) == "green"


def test_outcome_colour_is_grey_when_the_model_has_no_target() -> None:
    assert outcome_colour(25.0, math.nan, math.nan, 4) == "grey"


def test_an_episode_gets_a_colour_per_session_against_the_trajectory() -> None:
    # Intake 20: targets 22, 24, 26 and negative lines 19, 21, 23 at sessions 2-4.
    signals = evaluate_episode([(1, 20.0), (2, 22.0), (3, 21.0), (4, 18.0)], model=LinearModel())
    assert signals.colours == {1: "grey", 2: "green", 3: "orange", 4: "red"}
    assert signals.latest_colour == "red"


def test_the_model_is_asked_with_sessions_counted_from_the_intake() -> None:
    model = LinearModel()
    evaluate_episode([(4, 23.0), (2, 20.0), (3, 21.0)], model=model)
    assert model.calls == [(20.0, [1, 2, 3])]


def test_a_single_score_is_grey_and_the_model_is_not_asked() -> None:
    signals = evaluate_episode([(1, 10.0)], model=FailingModel())
    assert signals.colours == {1: "grey"}
    assert signals.latest_colour == "grey"


def test_an_episode_without_scores_is_grey() -> None:
    signals = evaluate_episode([], model=FailingModel())
    assert (signals.colours, signals.alerts, signals.latest_colour) == ({}, [], "grey")


# ---------------------------------------------------------------------------------------------
# Outcome alerts


def test_not_on_track_from_session_3_counts_the_sessions_below_target() -> None:
    # Targets 22, 24, 26; negative lines 19, 21, 23: sessions 2 to 4 are all below target.
    signals = evaluate_episode([(1, 20.0), (2, 20.0), (3, 22.0), (4, 25.0)], model=LinearModel())
    assert signals.colours == {1: "grey", 2: "orange", 3: "orange", 4: "orange"}
    found = alert(signals, "not_on_track")
    assert (found.session_number, found.severity) == (4, "orange")
    assert found.reason == (
        "Below target for the 3rd session in a row (ORS 25.0, target 26.0): "
        "time for a checkpoint conversation"
    )


def test_not_on_track_is_red_when_the_score_is_below_the_negative_line() -> None:
    signals = evaluate_episode([(1, 20.0), (2, 22.0), (3, 20.0)], model=LinearModel())
    found = alert(signals, "not_on_track")
    assert found.severity == "red"
    assert found.reason.startswith("Below target at session 3 (ORS 20.0, target 24.0)")


def test_below_target_at_session_2_is_not_yet_an_alert() -> None:
    signals = evaluate_episode([(1, 20.0), (2, 20.5)], model=LinearModel())
    assert signals.colours[2] == "orange"
    assert "not_on_track" not in codes(signals)


def test_the_off_track_session_is_configurable() -> None:
    config = SignalConfig(off_track_from_session=2)
    signals = evaluate_episode([(1, 20.0), (2, 20.5)], model=LinearModel(), config=config)
    assert alert(signals, "not_on_track").session_number == 2


def test_from_session_6_the_off_track_reason_is_the_last_chance_conversation() -> None:
    scores = [(1, 20.0), (2, 21.0), (3, 22.0), (4, 23.0), (5, 24.0), (6, 26.0)]
    found = alert(evaluate_episode(scores, model=LinearModel(gain=1.5)), "not_on_track")
    # Targets at sessions 2-6: 21.5, 23, 24.5, 26, 27.5.
    assert found.reason == (
        "Below target for the 5th session in a row (ORS 26.0, target 27.5): last-chance "
        "conversation: consider changing approach, therapist or level of care"
    )


def test_on_target_at_the_latest_session_clears_the_off_track_alert() -> None:
    signals = evaluate_episode([(1, 20.0), (2, 20.0), (3, 24.0)], model=LinearModel())
    assert signals.latest_colour == "green"
    assert "not_on_track" not in codes(signals)


def test_reliable_deterioration_names_the_points_below_intake() -> None:
    signals = evaluate_episode([(1, 20.0), (2, 14.0)], model=LinearModel())
    found = alert(signals, "reliable_deterioration")
    assert (found.severity, found.session_number) == ("red", 2)
    assert found.reason == "Reliable deterioration: 6.0 points below intake (reliable change is 5)"


@pytest.mark.parametrize(("latest", "flagged"), [(15.0, True), (15.1, False)])
def test_a_drop_of_exactly_the_reliable_change_is_reliable(latest: float, flagged: bool) -> None:
    signals = evaluate_episode([(1, 20.0), (2, latest)], model=LinearModel())
    assert ("reliable_deterioration" in codes(signals)) is flagged


@pytest.mark.parametrize(
    ("scores", "flagged"),
    [
        ([(1, 20.0), (6, 24.9)], True),  # 4.9 points at session 6: not reliable
        ([(1, 20.0), (5, 24.9)], False),  # too early
        ([(1, 20.0), (6, 25.0)], False),  # reliable improvement
        ([(1, 20.0), (6, 15.0)], False),  # reliable deterioration has its own alert
    ],
)
def test_no_reliable_change_by_session_6(scores, flagged: bool) -> None:
    signals = evaluate_episode(scores, model=LinearModel(gain=0.0))
    assert ("no_reliable_change" in codes(signals)) is flagged


def test_no_reliable_change_reason_and_configurable_session() -> None:
    config = SignalConfig(no_change_by_session=4)
    signals = evaluate_episode([(1, 20.0), (4, 22.0)], model=LinearModel(gain=0.0), config=config)
    found = alert(signals, "no_reliable_change")
    assert found.severity == "orange"
    assert found.reason.startswith(
        "No reliable change by session 4: +2.0 points since intake (reliable change is 5)"
    )


@pytest.mark.parametrize(
    ("instrument", "age_band", "intake", "reason"),
    [
        ("ors", "adult", 29.0, "Intake 29.0 is above the clinical cutoff of 25"),
        ("ors", None, 25.0, "Intake 25.0 is at the clinical cutoff of 25"),
        ("ors", "adult", 24.9, None),
        ("ors", "adolescent", 26.0, None),  # clinical for an adolescent (cutoff 28)
        ("ors", "adolescent", 28.5, "Intake 28.5 is above the clinical cutoff of 28"),
        ("cors", "child", 31.9, None),
        ("cors", "child", 33.0, "Intake 33.0 is above the clinical cutoff of 32"),
        ("phq9", "adult", 9.0, "Intake 9 is below the caseness threshold of 10"),
        ("phq9", "adult", 10.0, None),
        ("gad7", "adult", 7.0, "Intake 7 is below the caseness threshold of 8"),
    ],
)
def test_an_intake_outside_the_clinical_range_is_noted_per_age_band(
    instrument: str, age_band: str | None, intake: float, reason: str | None
) -> None:
    signals = evaluate_episode(
        [(1, intake)], model=FailingModel(), instrument=instrument, age_band=age_band
    )
    found = [a for a in signals.alerts if a.code == "intake_not_clinical"]
    if reason is None:
        assert found == []
    else:
        assert found[0].severity == "info"
        assert found[0].reason.startswith(reason + ": consider whether ongoing treatment")


# ---------------------------------------------------------------------------------------------
# Lower-is-better instruments (PHQ-9)


def test_a_phq9_episode_is_coloured_with_the_rules_mirrored() -> None:
    # Intake 18, target falls 1.5 a session, negative line 3 points above the target.
    model = LinearModel(gain=-1.5, width=3.0, higher_is_better=False)
    scores = [(1, 18.0), (2, 16.0), (3, 17.0), (4, 20.0)]  # targets 16.5, 15, 13.5
    signals = evaluate_episode(scores, model=model, instrument="phq9", alliance_instrument=None)
    assert signals.colours == {1: "grey", 2: "green", 3: "orange", 4: "red"}
    assert alert(signals, "not_on_track").reason.startswith(
        "Worse than target for the 2nd session in a row (PHQ-9 20, target 13.5)"
    )


def test_a_phq9_rise_of_6_is_reliable_deterioration() -> None:
    model = LinearModel(gain=-1.5, higher_is_better=False)
    signals = evaluate_episode([(1, 12.0), (2, 18.0)], model=model, instrument="phq9")
    assert alert(signals, "reliable_deterioration").reason == (
        "Reliable deterioration: 6 points above intake (higher is worse on PHQ-9) "
        "(reliable change is 6)"
    )
    fall = evaluate_episode([(1, 18.0), (2, 12.0)], model=model, instrument="phq9")
    assert "reliable_deterioration" not in codes(fall)


# ---------------------------------------------------------------------------------------------
# Alliance


@pytest.mark.parametrize(("total", "colour"), [(35.9, "red"), (36.0, "green"), (40.0, "green")])
def test_an_srs_below_36_is_red(total: float, colour: str) -> None:
    assert alliance_colour(total, previous=None) == colour


@pytest.mark.parametrize(
    ("previous", "total", "colour"),
    [(38.0, 37.0, "red"), (38.0, 37.1, "green"), (37.1, 36.1, "red"), (36.0, 39.0, "green")],
)
def test_a_drop_of_one_point_or_more_is_red(previous: float, total: float, colour: str) -> None:
    assert alliance_colour(total, previous) == colour


def test_no_srs_is_grey() -> None:
    assert alliance_colour(None, 38.0) == "grey"
    signals = evaluate_episode(
        [(1, 20.0), (2, 23.0)], [AllianceScore(1, 38.0)], model=LinearModel()
    )
    assert signals.alliance_colours == {1: "green", 2: "grey"}
    assert signals.latest_alliance_colour == "grey"


def test_alliance_alerts_read_out_the_numbers() -> None:
    alliance = [AllianceScore(1, 38.0), AllianceScore(2, 35.5)]
    signals = evaluate_episode([(1, 20.0), (2, 22.0)], alliance, model=LinearModel())
    assert signals.alliance_colours == {1: "green", 2: "red"}
    assert alert(signals, "alliance_below_cutoff").reason == (
        "SRS 35.5 is below 36: ask what could be better about today's session"
    )
    assert alert(signals, "alliance_drop").reason.startswith(
        "SRS dropped 2.5 points since last session"
    )


def test_a_low_item_is_an_orange_flag_naming_the_item_while_the_colour_stays_green() -> None:
    items = {"relationship": 10.0, "goals_topics": 7.2, "approach": 10.0, "overall": 9.0}
    signals = evaluate_episode([(1, 20.0)], [AllianceScore(1, 36.2, items)], model=FailingModel())
    assert signals.alliance_colours == {1: "green"}
    found = alert(signals, "alliance_low_item")  # 9.0 on "overall" is not below 9
    assert (found.severity, found.reason) == (
        "orange",
        "Goals and Topics rated 7.2 (below 9): worth asking about",
    )


def test_total_only_alliance_scores_are_not_flagged_by_item() -> None:
    quarter = dict.fromkeys(("relationship", "goals_topics", "approach", "overall"), 8.95)
    score = AllianceScore(1, 35.8, quarter, total_only=True)
    signals = evaluate_episode([], [score], model=FailingModel())
    assert codes(signals) == ["alliance_below_cutoff"]


def test_a_total_only_alliance_score_with_empty_items_is_judged_by_its_total() -> None:
    low = evaluate_episode([], [AllianceScore(1, 30.0, {}, total_only=True)], model=FailingModel())
    assert codes(low) == ["alliance_below_cutoff"] and low.alliance_colours == {1: "red"}
    fine = evaluate_episode([], [AllianceScore(1, 38.0, {}, total_only=True)], model=FailingModel())
    assert codes(fine) == [] and fine.alliance_colours == {1: "green"}


def test_only_the_latest_alliance_score_raises_alerts() -> None:
    alliance = [AllianceScore(1, 30.0), AllianceScore(2, 38.0)]
    signals = evaluate_episode([(1, 20.0), (2, 24.0)], alliance, model=LinearModel())
    assert signals.alliance_colours == {1: "red", 2: "green"}
    assert [a for a in signals.alerts if a.code.startswith("alliance")] == []


# ---------------------------------------------------------------------------------------------
# Configuration


def test_the_config_is_built_from_the_instruments_and_age_band() -> None:
    config = SignalConfig.for_instruments("ors", "srs", "adolescent")
    assert (config.clinical_cutoff, config.reliable_change) == (28, 5)
    assert (config.alliance_cutoff, config.item_cutoff, config.drop_threshold) == (36, 9, 1)
    assert config.item_labels["goals_topics"] == "Goals and Topics"
    child = SignalConfig.for_instruments(get_instrument("cors"), get_instrument("csrs"), "child")
    assert (child.outcome_name, child.alliance_name, child.clinical_cutoff) == ("CORS", "CSRS", 32)


def test_the_config_accepts_overrides_and_rejects_unknown_ones() -> None:
    config = SignalConfig.for_instruments("ors", "srs", no_change_by_session=4, reliable_change=6.6)
    assert (config.no_change_by_session, config.reliable_change) == (4, 6.6)
    with pytest.raises(ValueError, match="unknown SignalConfig field"):
        SignalConfig.for_instruments("ors", "srs", no_change_at=4)
    with pytest.raises(ValueError, match="off_track_from_session must be 1 or more"):
        dataclasses.replace(config, off_track_from_session=0)


def test_a_rule_without_a_threshold_is_switched_off() -> None:
    ycsrs = SignalConfig.for_instruments("ycors", "ycsrs")
    assert (ycsrs.alliance_cutoff, ycsrs.drop_threshold, ycsrs.clinical_cutoff) == (None, 1, None)
    signals = evaluate_episode(
        [(1, 10.0), (2, 3.0)], [AllianceScore(2, 20.0)], model=LinearModel(), config=ycsrs
    )
    # Red at session 2, a 7-point fall and an SRS of 20: yet no cutoff, no reliable-change value
    # and no off-track alert before session 3, so nothing is raised.
    assert signals.colours[2] == "red"
    assert signals.alliance_colours[2] == "green"
    assert codes(signals) == []


def test_an_alliance_scale_is_refused_as_the_outcome() -> None:
    with pytest.raises(ValueError, match="SRS is an alliance scale"):
        SignalConfig.for_instruments("srs", "srs")


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ([(1, 20.0), (1, 22.0)], "more than one outcome score for session 1"),
        ([(0, 20.0)], "session numbers must be whole numbers from 1"),
        ([(1, math.nan)], "outcome total at session 1 must be a finite number"),
        ([(1, "20")], "outcome total at session 1 must be a number"),
    ],
)
def test_bad_episode_input_is_named(outcome, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_episode(outcome, model=LinearModel())


def test_a_model_returning_the_wrong_number_of_targets_is_named() -> None:
    class ShortModel:
        def predict(self, intake, sessions):
            return SimpleNamespace(target=[intake], negative=[intake])

    with pytest.raises(ValueError, match="returned 1 targets and 1 negative scores for 2 sessions"):
        evaluate_episode([(1, 20.0), (2, 21.0)], model=ShortModel())


# ---------------------------------------------------------------------------------------------
# Properties

scores_st = st.floats(min_value=0, max_value=40, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(scores_st, scores_st, st.floats(0, 10), st.integers(0, 30), st.booleans())
def test_colours_only_come_from_the_four_values(score, target, width, n, higher) -> None:
    negative = target - width if higher else target + width
    assert outcome_colour(score, target, negative, n, higher_is_better=higher) in COLOURS


@settings(max_examples=80, deadline=None)
@given(scores_st, st.floats(0, 10), scores_st, st.floats(0, 10), st.booleans())
def test_a_better_score_never_gets_a_worse_colour(score, gain, target, width, higher) -> None:
    direction = 1 if higher else -1
    negative = target - direction * width
    before = outcome_colour(score, target, negative, 2, higher_is_better=higher)
    after = outcome_colour(score + direction * gain, target, negative, 2, higher_is_better=higher)
    assert RANK[after] <= RANK[before]


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0, 40),
    st.lists(st.tuples(st.floats(0, 40), st.floats(0, 5)), min_size=1, max_size=8),
)
def test_raising_every_score_after_intake_never_makes_a_colour_worse(intake, later) -> None:
    model = LinearModel(gain=1.0)
    low = [(1, intake)] + [(i + 2, s) for i, (s, _) in enumerate(later)]
    high = [(1, intake)] + [(i + 2, s + lift) for i, (s, lift) in enumerate(later)]
    before = evaluate_episode(low, model=model).colours
    after = evaluate_episode(high, model=model).colours
    assert after[1] == before[1] == "grey"
    assert all(RANK[after[s]] <= RANK[before[s]] for s in before if s > 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(20, 40), min_size=1, max_size=8), st.floats(0, 5))
def test_raising_every_alliance_total_never_makes_an_alliance_colour_worse(totals, lift) -> None:
    low = [AllianceScore(i + 1, t) for i, t in enumerate(totals)]
    high = [AllianceScore(i + 1, t + lift) for i, t in enumerate(totals)]
    before = evaluate_episode([], low, model=FailingModel()).alliance_colours
    after = evaluate_episode([], high, model=FailingModel()).alliance_colours
    assert all(RANK[after[s]] <= RANK[before[s]] for s in before)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 27), st.floats(0, 27), st.floats(0, 5), st.integers(2, 10))
def test_a_lower_is_better_colour_equals_the_colour_of_the_mirrored_score(
    score, target, width, n
) -> None:
    mirrored = outcome_colour(27 - score, 27 - target, 27 - target - width, n)
    assert outcome_colour(score, target, target + width, n, higher_is_better=False) == mirrored
