"""The client age bands are defined once (instruments.age_bands); the instrument files name them."""

from __future__ import annotations

import re

import pytest

from alliance.science.instruments import all_instruments
from alliance.science.instruments.age_bands import (
    AGE_BAND_NAMES,
    AGE_BANDS,
    DEFAULT_AGE_BAND,
    UnknownAgeBandError,
    age_band,
    age_band_for_age,
    default_forms,
)


def test_every_age_falls_into_exactly_one_band() -> None:
    for age in range(0, 120):
        assert sum(band.contains(age) for band in AGE_BANDS) == 1, age


@pytest.mark.parametrize(
    ("age", "band"),
    [(-1, "young_child"), (0, "young_child"), (5, "young_child"), (6, "child"), (12, "child")]
    + [(13, "adolescent"), (17, "adolescent"), (18, "adult"), (90, "adult")],
)
def test_an_age_gets_the_band_whose_range_holds_it(age: int, band: str) -> None:
    assert age_band_for_age(age) == band


def test_each_label_states_the_bands_own_ages() -> None:
    for band in AGE_BANDS:
        numbers = [int(n) for n in re.findall(r"\d+", band.label)]
        expected = [band.max_age] if band.min_age == 0 else [band.min_age, band.max_age]
        assert numbers == [n for n in expected if n is not None], band.name


def test_each_band_fills_in_an_outcome_form_and_an_alliance_form_that_name_the_band() -> None:
    instruments = {instrument.code: instrument for instrument in all_instruments()}
    for band in AGE_BANDS:
        outcome, alliance = default_forms(band.name)
        assert instruments[outcome].kind == "outcome"
        assert instruments[alliance].kind == "alliance"
        assert instruments[outcome].age_band(band.name) is not None, (band.name, outcome)


def test_an_unknown_band_is_refused_by_name_and_gets_the_default_forms() -> None:
    with pytest.raises(UnknownAgeBandError, match="'toddler'"):
        age_band("toddler")
    assert default_forms("toddler") == age_band(DEFAULT_AGE_BAND).forms


def test_the_instrument_files_take_each_bands_ages_from_the_one_definition() -> None:
    for instrument in all_instruments():
        for band in instrument.age_bands:
            assert band.name in AGE_BAND_NAMES, (instrument.code, band.name)
            defined = age_band(band.name)
            assert (band.min_age, band.max_age) == (defined.min_age, defined.max_age)
