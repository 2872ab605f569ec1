"""PHQ-9 item 9: the safety rule comes from the instrument file, never from the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alliance.science.instruments import InstrumentFileError, get_instrument, load_file
from alliance.science.instruments.loader import DATA_DIR
from alliance.science.signals import (
    PRIORITY_ALLIANCE,
    PRIORITY_ORANGE,
    PRIORITY_RED,
    PRIORITY_SAFETY,
    SAFETY_CODE,
    AllianceScore,
    SafetyResponse,
    alert_priority,
    evaluate_episode,
    safety_alerts,
)

QUIET = {
    "interest": 1,
    "down": 1,
    "sleep": 2,
    "tired": 2,
    "appetite": 0,
    "failure": 1,
    "concentrating": 1,
    "psychomotor": 0,
    "self_harm": 0,
}


class NoTarget:
    def predict(self, intake, sessions):
        raise AssertionError("not asked")


def test_the_phq9_files_name_item_9_as_the_safety_item_in_english_and_spanish() -> None:
    for language in ("en", "es"):
        phq9 = get_instrument("phq9", language)
        assert phq9.language == language
        assert phq9.safety is not None
        assert (phq9.safety.item, phq9.safety.above) == ("self_harm", 0)
        assert phq9.items[-1].key == phq9.safety.item
        assert "risk" in phq9.safety.message.lower() or "riesgo" in phq9.safety.message
    assert get_instrument("phq9", "es").safety.message != get_instrument("phq9").safety.message


def test_instruments_without_a_safety_item_have_none() -> None:
    for code in ("ors", "srs", "gad7", "cors"):
        assert get_instrument(code).safety is None


def test_item_9_above_0_raises_a_red_safety_alert_with_the_files_wording() -> None:
    phq9 = get_instrument("phq9")
    [alert] = safety_alerts([SafetyResponse(3, "phq9", {**QUIET, "self_harm": 1})])
    assert (alert.code, alert.session_number, alert.severity) == (SAFETY_CODE, 3, "red")
    assert phq9.safety.message in alert.reason
    assert "Several days (1)" in alert.reason


@pytest.mark.parametrize("answer", [1, 2, 3])
def test_every_answer_above_0_raises_it_whatever_the_total(answer: int) -> None:
    items = dict.fromkeys(QUIET, 0) | {"self_harm": answer}  # total 1 to 3: far below caseness
    assert [a.code for a in safety_alerts([SafetyResponse(1, "phq9", items)])] == [SAFETY_CODE]


def test_item_9_at_0_or_missing_raises_nothing() -> None:
    assert safety_alerts([SafetyResponse(1, "phq9", QUIET)]) == []
    assert safety_alerts([SafetyResponse(1, "phq9", {})]) == []  # a total on its own
    assert safety_alerts([SafetyResponse(1, "gad7", {"self_harm": 3})]) == []


def test_the_alert_of_an_earlier_session_stays_after_a_later_score_of_0() -> None:
    responses = [
        SafetyResponse(1, "phq9", {**QUIET, "self_harm": 2}),
        SafetyResponse(2, "phq9", QUIET),
    ]
    signals = evaluate_episode(
        [(1, 8.0), (2, 7.0)],
        [],
        model=_Flat(),
        instrument="phq9",
        alliance_instrument="srs",
        safety=responses,
    )
    safety = [a for a in signals.alerts if a.code == SAFETY_CODE]
    assert [a.session_number for a in safety] == [1]


class _Flat:
    def predict(self, intake, sessions):
        import numpy as np

        sessions = np.asarray(sessions)
        target = np.full(sessions.shape, float(intake))
        return dataclasses.make_dataclass("T", ["target", "negative"])(target, target + 3)


def test_the_safety_alert_comes_first_in_the_episode_alerts() -> None:
    signals = evaluate_episode(
        [(1, 8.0)],
        [AllianceScore(1, 30.0)],
        model=NoTarget(),
        instrument="phq9",
        safety=[SafetyResponse(1, "phq9", {**QUIET, "self_harm": 3})],
    )
    assert signals.alerts[0].code == SAFETY_CODE


def test_alerts_are_ranked_safety_red_orange_alliance() -> None:
    assert alert_priority(SAFETY_CODE, "red") == PRIORITY_SAFETY
    assert alert_priority("reliable_deterioration", "red") == PRIORITY_RED
    assert alert_priority("not_on_track", "orange") == PRIORITY_ORANGE
    assert alert_priority("alliance_below_cutoff", "red") == PRIORITY_ALLIANCE
    assert PRIORITY_SAFETY < PRIORITY_RED < PRIORITY_ORANGE < PRIORITY_ALLIANCE


def write(tmp_path: Path, safety: str) -> Path:
    text = (DATA_DIR / "phq9.en.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("[safety]")
    _, _, tail = rest.partition("[[age_bands]]")
    path = tmp_path / "phq9.en.toml"
    path.write_text(head + safety + "\n[[age_bands]]" + tail, encoding="utf-8")
    return path


def test_an_agency_file_can_set_its_own_wording(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[safety]\nitem = "self_harm"\nabove = 0\nmessage = "Call the duty lead."\n'
    )
    assert load_file(path).safety.message == "Call the duty lead."


@pytest.mark.parametrize(
    ("safety", "field"),
    [
        ('[safety]\nitem = "nope"\nabove = 0\nmessage = "m"\n', "safety.item"),
        ('[safety]\nitem = "self_harm"\nabove = 3\nmessage = "m"\n', "safety.above"),
        ('[safety]\nitem = "self_harm"\nabove = 0\n', "safety.message"),
        ('[[safety]]\nitem = "self_harm"\n', "safety"),
    ],
)
def test_a_malformed_safety_table_names_its_field(tmp_path: Path, safety: str, field: str) -> None:
    with pytest.raises(InstrumentFileError) as error:
        load_file(write(tmp_path, safety))
    assert error.value.field == field


def test_a_low_srs_and_its_low_items_are_one_alert() -> None:
    items = {"relationship": 7.0, "goals_topics": 8.0, "approach": 9.5, "overall": 5.5}
    signals = evaluate_episode([(1, 20.0)], [AllianceScore(1, 30.0, items)], model=NoTarget())
    alliance = [a for a in signals.alerts if a.code.startswith("alliance_")]
    assert [a.code for a in alliance] == ["alliance_below_cutoff"]
    assert alliance[0].reason == (
        "SRS 30.0 is below 36: ask what could be better about today's session "
        "(Relationship rated 7.0, Goals and Topics rated 8.0, Overall rated 5.5, below 9)"
    )


def test_several_low_items_above_the_cutoff_are_one_orange_alert() -> None:
    items = {"relationship": 8.5, "goals_topics": 8.0, "approach": 10.0, "overall": 10.0}
    signals = evaluate_episode([(1, 20.0)], [AllianceScore(1, 36.5, items)], model=NoTarget())
    [alert] = [a for a in signals.alerts if a.code.startswith("alliance_")]
    assert (alert.code, alert.severity) == ("alliance_low_item", "orange")
    assert alert.reason.startswith("Relationship rated 8.5, Goals and Topics rated 8.0 (below 9)")
