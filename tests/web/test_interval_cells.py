"""An interval that could not be estimated shows as one dash in a table, not as "– – –"."""

from __future__ import annotations

from types import SimpleNamespace

from django.utils import translation

from alliance.care import svg
from alliance.practice.presentation import repair_rows
from alliance.reports.presentation import group_rows


def test_an_interval_reads_low_dash_high():
    assert svg.interval("0.31", "1.75") == "0.31 – 1.75"
    assert svg.interval("-6.0", "9.9") == "-6.0 – 9.9"


def test_an_interval_without_either_end_is_a_single_dash():
    assert svg.interval("–", "–") == "–"
    assert svg.interval("", "") == "–"


def test_an_interval_with_one_end_keeps_both_places():
    assert svg.interval("12%", "–") == "12% – –"


def test_the_practice_page_shows_a_repair_outcome_without_an_interval_as_one_dash():
    page = SimpleNamespace(
        profile={
            "outcome_by_repair": {
                # One episode: a mean change but no interval (a t interval needs two).
                "repaired": {
                    "mean_change": {"mean": 3.6, "low": None, "high": None, "n": 1},
                    "reliable_improvement": {
                        "share": 0.0,
                        "low": 0.0,
                        "high": 0.79,
                        "k": 0,
                        "n": 1,
                    },
                },
            }
        }
    )
    with translation.override("en"):
        repaired, unrepaired = repair_rows(page)
    assert repaired["change"] == {"value": "3.6", "interval": "–", "n": "1"}
    assert repaired["improved"]["interval"] == "0% – 79%"
    assert unrepaired["change"]["interval"] == "–"


def test_the_report_shows_a_group_without_an_effect_size_interval_as_one_dash():
    result = {
        "groups": {
            "7": {
                "n_used": 1,
                "es": {"value": None, "low": None, "high": None, "n": 1},
                "reliable_improvement": {"proportion": 1.0, "low": 0.21, "high": 1.0},
                "dropout": {},
                "small_sample": True,
            }
        }
    }
    with translation.override("es"):
        (row,) = group_rows(result, {"7": "therapist1"})
    assert row["es_interval"] == "–"
    assert row["improved_interval"] == "21,0% – 100,0%"  # the Spanish decimal comma
