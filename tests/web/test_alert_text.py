"""Alert reasons in the page's language: English pages keep the science core's sentence, Spanish
pages say every kind of alert through the catalog with comma decimals."""

from __future__ import annotations

import re

import pytest
from django.utils import translation

from alliance.care.alert_text import SENTENCES, reason_in_language
from alliance.science.signals import AllianceScore, SignalConfig, evaluate_episode
from tests.science.test_signals import FailingModel, LinearModel

LOW_ITEMS = {"relationship": 10.0, "goals_topics": 7.2, "approach": 10.0, "overall": 9.0}


def every_kind_of_alert():
    phq9 = LinearModel(gain=-1.5, width=3.0, higher_is_better=False)
    episodes = [
        evaluate_episode([(1, 20.0), (2, 20.0), (3, 22.0), (4, 25.0)], model=LinearModel()),
        evaluate_episode([(1, 20.0), (2, 14.0)], model=LinearModel()),
        evaluate_episode(
            [(1, 20.0), (4, 22.0)],
            model=LinearModel(gain=0.0),
            config=SignalConfig(no_change_by_session=4),
        ),
        evaluate_episode([(1, 29.0)], model=FailingModel(), age_band="adult"),
        evaluate_episode([(1, 25.0)], model=FailingModel()),
        evaluate_episode([(1, 9.0)], model=FailingModel(), instrument="phq9", age_band="adult"),
        evaluate_episode(
            [(1, 18.0), (2, 16.0), (3, 17.0), (4, 20.0)],
            model=phq9,
            instrument="phq9",
            alliance_instrument=None,
        ),
        evaluate_episode([(1, 12.0), (2, 18.0)], model=phq9, instrument="phq9"),
        evaluate_episode(
            [(1, 20.0)],
            [AllianceScore(1, 38.0), AllianceScore(2, 33.5, {**LOW_ITEMS, "overall": 6.3})],
            model=FailingModel(),
        ),
        evaluate_episode([(1, 20.0)], [AllianceScore(1, 36.2, LOW_ITEMS)], model=FailingModel()),
    ]
    return [alert for signals in episodes for alert in signals.alerts]


def test_every_kind_of_alert_is_covered_by_the_examples():
    assert {alert.code for alert in every_kind_of_alert()} == set(SENTENCES)


def test_english_pages_keep_the_science_cores_sentence():
    with translation.override("en"):
        for alert in every_kind_of_alert():
            assert reason_in_language(alert.code, alert.facts, alert.reason, "srs") == alert.reason


@pytest.mark.parametrize("alert", every_kind_of_alert(), ids=lambda alert: alert.code)
def test_spanish_pages_say_each_alert_in_spanish_with_comma_decimals(alert):
    from tests.web.test_spanish_catalog import english_phrases

    with translation.override("es"):
        text = reason_in_language(alert.code, alert.facts, alert.reason, "srs")
    assert text != alert.reason
    assert re.findall(r"\d\.\d", text) == []
    assert [phrase for phrase in english_phrases() if phrase in text] == []


def test_the_spanish_sentences_carry_the_figures():
    found = {alert.code: alert for alert in every_kind_of_alert()}
    with translation.override("es"):
        off_track = found["not_on_track"]
        deterioration = found["reliable_deterioration"]
        texts = {
            code: reason_in_language(a.code, a.facts, a.reason, "srs") for code, a in found.items()
        }
    assert off_track.facts["run"] >= 1 and deterioration.facts["change"] > 0
    assert texts["no_reliable_change"].startswith("Sin cambio fiable en la sesión 4: +2,0 puntos")
    assert "7,2" in texts["alliance_low_item"]


def test_a_reason_without_facts_or_of_an_unknown_code_stays_as_stored():
    with translation.override("es"):
        assert reason_in_language("not_on_track", {}, "stored") == "stored"
        assert reason_in_language("something_new", {"a": 1}, "stored") == "stored"
        assert reason_in_language("not_on_track", {"run": 2}, "stored") == "stored"
