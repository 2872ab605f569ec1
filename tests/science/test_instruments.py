"""Instrument definition files, the loader/validator and response scoring."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.science.instruments import (
    DATA_DIR,
    ENV_VAR,
    InstrumentFileError,
    ResponseError,
    UnknownInstrumentError,
    all_instruments,
    find_instrument,
    get_instrument,
    load_file,
    load_instruments,
    reload_instruments,
    step_decimals,
)

SHIPPED = ("cors", "csrs", "gad7", "gsrs", "ors", "phq9", "srs", "ycors", "ycsrs")
VAS_SCALES = ("ors", "srs", "cors", "csrs", "ycors", "ycsrs", "gsrs")
ORS_TEXT = (DATA_DIR / "ors.en.toml").read_text(encoding="utf-8")


def ors_response(**changes: object) -> dict[str, object]:
    response: dict[str, object] = {
        "individually": 7.5,
        "interpersonally": 7.3,
        "socially": 5,
        "overall": 6.1,
    }
    response.update(changes)
    return response


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch):
    """Clear the cached registry around a test that changes ALLIANCE_INSTRUMENT_DIRS."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    reload_instruments()
    yield monkeypatch
    reload_instruments()


# ---------------------------------------------------------------------------------------------
# The shipped definitions carry the published values


# Every instrument ships in Spanish too (tests/science/test_instrument_translations.py).
TRANSLATED = tuple(f"{code}.es.toml" for code in SHIPPED)


def test_it_ships_every_instrument_of_the_brief_in_english() -> None:
    assert sorted(i.code for i in all_instruments()) == list(SHIPPED)
    assert {i.language for i in all_instruments()} == {"en"}
    assert sorted(p.name for p in DATA_DIR.glob("*.toml")) == sorted(
        [*(f"{c}.en.toml" for c in SHIPPED), *TRANSLATED]
    )


@pytest.mark.parametrize(
    ("code", "band", "cutoff"),
    [
        ("ors", "adult", 25),
        ("ors", None, 25),
        ("ors", "adolescent", 28),
        ("cors", "child", 32),
        ("cors", None, 32),
        ("phq9", "adult", 10),
        ("gad7", "adult", 8),
        ("ors", "child", None),
        ("srs", "adult", None),
    ],
)
def test_it_gives_the_published_clinical_cutoff_per_age_band(
    code: str, band: str | None, cutoff: float | None
) -> None:
    assert get_instrument(code).clinical_cutoff(band) == cutoff


def test_it_places_the_clinical_range_below_the_cutoff_when_higher_is_better() -> None:
    ors = get_instrument("ors")
    assert ors.is_clinical(24.9) is True
    assert ors.is_clinical(25.0) is False
    assert ors.is_clinical(27.9, "adolescent") is True
    assert ors.is_clinical(28.0, "adolescent") is False


def test_it_places_caseness_at_or_above_the_cutoff_when_lower_is_better() -> None:
    phq9, gad7 = get_instrument("phq9"), get_instrument("gad7")
    assert (phq9.is_clinical(10), phq9.is_clinical(9)) == (True, False)
    assert (gad7.is_clinical(8), gad7.is_clinical(7)) == (True, False)
    assert (phq9.direction, get_instrument("ors").direction) == (-1, 1)


@pytest.mark.parametrize(("code", "points"), [("ors", 5), ("cors", 5), ("phq9", 6), ("gad7", 4)])
def test_it_carries_the_reliable_change_points(code: str, points: float) -> None:
    assert get_instrument(code).reliable_change == points


@pytest.mark.parametrize("code", ["srs", "csrs", "gsrs"])
def test_alliance_scales_carry_cutoff_36_item_cutoff_9_and_a_drop_of_1(code: str) -> None:
    scale = get_instrument(code)
    assert (scale.kind, scale.alliance_cutoff, scale.item_cutoff, scale.drop_threshold) == (
        "alliance",
        36,
        9,
        1,
    )


def test_the_srs_item_cutoff_is_marked_low_confidence() -> None:
    assert "Item cutoff 9: L" in get_instrument("srs").notes["confidence"]


@pytest.mark.parametrize("code", VAS_SCALES)
def test_visual_analogue_scales_have_four_items_from_0_to_10_in_tenths(code: str) -> None:
    scale = get_instrument(code)
    assert len(scale.items) == 4
    assert all((i.min, i.max, i.step) == (0, 10, 0.1) for i in scale.items)
    assert (scale.total_min, scale.total_max, scale.higher_is_better) == (0, 40, True)
    assert scale.allows_total_only
    assert all(item.prompt and item.anchor_low and item.anchor_high for item in scale.items)


def test_the_ors_items_are_the_published_four_in_order() -> None:
    ors = get_instrument("ors")
    assert [i.label for i in ors.items] == [
        "Individually",
        "Interpersonally",
        "Socially",
        "Overall",
    ]
    assert ors.kind == "outcome"


def test_the_srs_anchors_are_the_published_wording() -> None:
    srs = get_instrument("srs")
    assert [i.label for i in srs.items] == [
        "Relationship",
        "Goals and Topics",
        "Approach or Method",
        "Overall",
    ]
    assert srs.item("relationship").anchor_high == "I felt heard, understood and respected"
    assert srs.item("overall").anchor_low == "There was something missing in the session today"


def test_phq9_and_gad7_have_their_public_domain_wording_scored_0_to_3() -> None:
    phq9, gad7 = get_instrument("phq9"), get_instrument("gad7")
    assert (len(phq9.items), phq9.total_max, len(gad7.items), gad7.total_max) == (9, 27, 7, 21)
    assert phq9.items[0].label == "Little interest or pleasure in doing things"
    assert phq9.items[-1].label.startswith("Thoughts that you would be better off dead")
    assert gad7.items[0].label == "Feeling nervous, anxious, or on edge"
    for scale in (phq9, gad7):
        assert scale.kind == "symptom" and not scale.higher_is_better
        assert not scale.allows_total_only
        assert all((i.min, i.max, i.step) == (0, 3, 1) for i in scale.items)
        assert scale.items[0].choices == (
            "Not at all",
            "Several days",
            "More than half the days",
            "Nearly every day",
        )
        assert "no permission required" in scale.licence.lower()


def test_it_names_the_copyright_holders() -> None:
    assert get_instrument("ors").copyright == "ORS (c) 2000 Scott D. Miller and Barry L. Duncan"
    assert "2002" in get_instrument("srs").copyright
    assert "Lynn D. Johnson" in get_instrument("srs").copyright
    assert "group licence" in get_instrument("ors").licence
    assert "Pfizer" in get_instrument("phq9").copyright


def test_young_child_forms_are_pictorial_unvalidated_and_recommend_a_collateral_rater() -> None:
    for code in ("ycors", "ycsrs"):
        scale = get_instrument(code)
        assert (scale.validated, scale.pictorial, scale.faces) == (False, True, True)
        assert "collateral rater" in scale.notes["validation"]
    assert all(get_instrument(c).validated for c in SHIPPED if c not in ("ycors", "ycsrs"))


def test_child_forms_show_faces() -> None:
    assert get_instrument("cors").faces and get_instrument("csrs").faces
    assert not get_instrument("cors").pictorial
    assert not get_instrument("ors").faces


@pytest.mark.parametrize("code", ["csrs", "ycors", "ycsrs", "gsrs"])
def test_unverified_wording_says_the_agency_should_drop_in_the_licensed_form(code: str) -> None:
    assert (
        "licensed wording should be dropped in by the agency"
        in get_instrument(code).notes["wording"]
    )


# ---------------------------------------------------------------------------------------------
# Scoring a response


def test_it_totals_an_ors_response_by_hand() -> None:
    scored = get_instrument("ors").score(ors_response())
    assert scored.total == 25.9  # 7.5 + 7.3 + 5.0 + 6.1
    assert scored.items["socially"] == 5.0
    assert not scored.total_only


def test_it_rounds_away_float_noise_in_the_total() -> None:
    scored = get_instrument("ors").score(
        {"individually": 0.1, "interpersonally": 0.2, "socially": 0.3, "overall": 0.4}
    )
    assert scored.total == 1.0  # 0.1 + 0.2 is 0.30000000000000004 in binary floating point


def test_it_totals_a_phq9_response_by_hand() -> None:
    phq9 = get_instrument("phq9")
    answers = dict(zip(phq9.item_keys, [1, 2, 3, 0, 1, 2, 3, 0, 1], strict=True))
    assert phq9.score(answers).total == 13


def test_it_accepts_numeric_strings() -> None:
    scored = get_instrument("ors").score(ors_response(individually="7.5", overall=" 6.1 "))
    assert scored.total == 25.9


def test_it_accepts_a_value_a_hair_off_the_grid_as_float_noise() -> None:
    scored = get_instrument("ors").score(ors_response(overall=6.1000000000001))
    assert scored.items["overall"] == 6.1


def test_it_names_a_missing_item_by_its_label() -> None:
    response = ors_response()
    del response["socially"]
    with pytest.raises(ResponseError, match=r"^Item 'Socially' is missing$") as error:
        get_instrument("ors").score(response)
    assert error.value.item == "socially"


def test_it_rejects_an_unknown_item() -> None:
    with pytest.raises(ResponseError, match="Unknown item 'mood' for ORS") as error:
        get_instrument("ors").score(ors_response(mood=5))
    assert error.value.item == "mood"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (11, r"^'Overall' must be between 0 and 10, got 11$"),
        (-0.1, r"^'Overall' must be between 0 and 10, got -0.1$"),
        (3.14, r"^'Overall' must be in steps of 0.1, got 3.14$"),
        (9.95, r"^'Overall' must be in steps of 0.1, got 9.95$"),
        (True, r"^'Overall' must be a number, got True$"),
        (math.nan, r"^'Overall' must be a number, got nan$"),
        (math.inf, r"^'Overall' must be a number, got inf$"),
        ("abc", r"^'Overall' must be a number, got 'abc'$"),
        ("", r"^'Overall' must be a number, got ''$"),
        (None, r"^'Overall' must be a number, got None$"),
    ],
)
def test_it_rejects_a_bad_item_value_naming_the_item(value: object, message: str) -> None:
    with pytest.raises(ResponseError, match=message) as error:
        get_instrument("ors").score(ors_response(overall=value))
    assert error.value.item == "overall"


def test_it_rejects_a_half_point_on_a_whole_point_scale() -> None:
    phq9 = get_instrument("phq9")
    answers: dict[str, object] = dict.fromkeys(phq9.item_keys, 1)
    answers["sleep"] = 1.5
    with pytest.raises(ResponseError, match="must be in steps of 1, got 1.5") as error:
        phq9.score(answers)
    assert error.value.item == "sleep"


def test_a_total_only_entry_keeps_its_items_empty() -> None:
    scored = get_instrument("ors").score_total("28.3")
    assert scored.total == 28.3
    assert scored.items == {}  # nothing invented for the items
    assert scored.total_only


@pytest.mark.parametrize(
    ("total", "message"),
    [
        (40.1, r"'Total' must be between 0 and 40, got 40.1"),
        (28.35, r"'Total' must be in steps of 0.1, got 28.35"),
        ("lots", r"'Total' must be a number, got 'lots'"),
    ],
)
def test_a_total_only_entry_is_checked_against_the_total_range_and_grid(
    total: object, message: str
) -> None:
    with pytest.raises(ResponseError, match=message) as error:
        get_instrument("ors").score_total(total)
    assert error.value.item is None


def test_a_total_only_entry_is_refused_when_the_definition_needs_every_item() -> None:
    with pytest.raises(ResponseError, match="PHQ-9 needs every item"):
        get_instrument("phq9").score_total(12)


@pytest.mark.parametrize(("step", "decimals"), [(0.1, 1), (1, 0), (0.25, 2), (0.5, 1), (2.0, 0)])
def test_it_derives_the_decimals_from_the_step(step: float, decimals: int) -> None:
    assert step_decimals(step) == decimals


tenths = st.integers(min_value=0, max_value=100).map(lambda n: n / 10)


@settings(max_examples=60, deadline=None)
@given(st.tuples(tenths, tenths, tenths, tenths))
def test_any_response_on_the_grid_scores_to_its_sum_in_tenths(values) -> None:
    ors = get_instrument("ors")
    scored = ors.score(dict(zip(ors.item_keys, values, strict=True)))
    assert scored.total == round(sum(values), 1)
    assert 0 <= scored.total <= 40
    assert round(scored.total * 10) == sum(round(v * 10) for v in values)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=400))
def test_a_total_only_entry_keeps_the_total_given_and_invents_no_items(tenth_points: int) -> None:
    scored = get_instrument("srs").score_total(tenth_points / 10)
    assert scored.total == pytest.approx(tenth_points / 10, abs=1e-9) and scored.items == {}


# ---------------------------------------------------------------------------------------------
# Loading: overrides, translations, fallback, caching


def test_the_shipped_registry_is_loaded_once() -> None:
    assert get_instrument("ors") is get_instrument("ors")


def test_an_unknown_language_falls_back_to_english() -> None:
    assert get_instrument("ors", "de").language == "en"
    assert get_instrument("ORS", "pt-BR").code == "ors"


def test_an_unknown_instrument_is_named() -> None:
    with pytest.raises(UnknownInstrumentError, match=r"unknown instrument 'oq45' \(known: cors"):
        get_instrument("oq45")


def test_an_agency_file_overrides_the_shipped_wording(tmp_path: Path) -> None:
    licensed = ORS_TEXT.replace('label = "Socially"', 'label = "Socially (licensed)"')
    (tmp_path / "ors.en.toml").write_text(licensed, encoding="utf-8")
    registry = load_instruments(tmp_path)
    assert registry[("ors", "en")].item("socially").label == "Socially (licensed)"
    assert registry[("ors", "en")].source_file == tmp_path / "ors.en.toml"
    assert registry[("srs", "en")].source_file == DATA_DIR / "srs.en.toml"
    assert get_instrument("ors").item("socially").label == "Socially"  # shipped cache untouched


def test_a_translation_is_found_by_language_and_by_regional_variant(tmp_path: Path) -> None:
    german = ORS_TEXT.replace('language = "en"', 'language = "de"').replace(
        'label = "Individually"', 'label = "Individuell"'
    )
    (tmp_path / "ors.de.toml").write_text(german, encoding="utf-8")
    registry = load_instruments(tmp_path)
    assert find_instrument(registry, "ors", "de").items[0].label == "Individuell"
    assert find_instrument(registry, "ors", "de-CH").language == "de"
    assert find_instrument(registry, "srs", "de").language == "en"


def test_the_environment_variable_adds_directories_in_order(
    tmp_path: Path, fresh_registry: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, label in ((first, "First"), (second, "Second")):
        folder.mkdir()
        text = ORS_TEXT.replace('label = "Overall"', f'label = "{label}"')
        (folder / "ors.en.toml").write_text(text, encoding="utf-8")
    fresh_registry.setenv(ENV_VAR, f"{first}{os.pathsep}{second}")
    reload_instruments()
    assert get_instrument("ors").item("overall").label == "Second"


def test_a_missing_extra_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InstrumentFileError, match="instrument directory not found"):
        load_instruments(tmp_path / "nowhere")


# Each malformation of a copy of ors.en.toml, with the field the error must name.
MALFORMED = [
    ("missing name", ('name = "Outcome Rating Scale"\n', ""), "name", "missing field"),
    (
        "text for a number",
        ("total_max = 40", 'total_max = "forty"'),
        "total_max",
        "must be a number",
    ),
    (
        "number for a flag",
        ("higher_is_better = true", "higher_is_better = 1"),
        "higher_is_better",
        "must be true or false",
    ),
    ("unknown kind", ('kind = "outcome"', 'kind = "mood"'), "kind", "unknown kind 'mood'"),
    (
        "min above max",
        ("min = 0\nmax = 10", "min = 10\nmax = 10"),
        "items[1].min",
        "min (10) must be below max (10)",
    ),
    ("zero step", ("step = 0.1", "step = 0"), "items[1].step", "step must be above 0"),
    (
        "duplicate key",
        ('key = "socially"', 'key = "individually"'),
        "items[3].key",
        "duplicate item key 'individually'",
    ),
    (
        "cutoff outside range",
        ("clinical_cutoff = 25", "clinical_cutoff = 45"),
        "age_bands[2].clinical_cutoff",
        "45 is outside the total range 0-40",
    ),
    (
        "total not the item sum",
        ("total_max = 40", "total_max = 30"),
        "total_max",
        "sum of the item maximums (40)",
    ),
    (
        "negative reliable change",
        ("reliable_change = 5", "reliable_change = -5"),
        "reliable_change",
        "must be above 0",
    ),
    ("empty label", ('label = "Overall"', 'label = ""'), "items[4].label", "must not be empty"),
    ("no items", ("[[items]]", "[[other]]"), "items", "missing field"),
    (
        "age in words",
        ('name = "adult"', 'name = "adult"\nmin_age = "adult"'),
        "age_bands[2].min_age",
        "whole number",
    ),
    (
        "age not the band's",
        ('name = "adult"', 'name = "adult"\nmin_age = 16'),
        "age_bands[2].min_age",
        "the adult band's min_age is 18, not 16",
    ),
    ("code not the file name", ('code = "ors"', 'code = "sro"'), "code", "'sro.en.toml'"),
]


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_a_malformed_file_fails_naming_the_file_and_the_field(
    tmp_path: Path, change: tuple[str, str], field: str, problem: str
) -> None:
    old, new = change
    assert old in ORS_TEXT
    path = tmp_path / "ors.en.toml"
    path.write_text(ORS_TEXT.replace(old, new), encoding="utf-8")
    with pytest.raises(InstrumentFileError) as error:
        load_file(path)
    assert (error.value.path, error.value.field) == (path, field)
    assert str(path) in str(error.value)
    assert f"field {field!r}" in str(error.value)
    assert problem in str(error.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ors.en.toml"
    path.write_text(ORS_TEXT + "\nthis is not toml\n", encoding="utf-8")
    with pytest.raises(InstrumentFileError, match="not valid TOML") as error:
        load_file(path)
    assert error.value.path == path


def test_choices_must_match_the_number_of_values(tmp_path: Path) -> None:
    text = (DATA_DIR / "phq9.en.toml").read_text(encoding="utf-8")
    path = tmp_path / "phq9.en.toml"
    path.write_text(text.replace('"Several days", ', ""), encoding="utf-8")
    with pytest.raises(
        InstrumentFileError, match="needs one text per value \\(4\\), got 3"
    ) as error:
        load_file(path)
    assert error.value.field == "items[1].choices"
