"""Every shipped instrument speaks Spanish: an ``.es`` file beside each ``.en`` file, with the same
items and numbers and every text translated (issue 13: a client never reads English around
Spanish buttons)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alliance.science.instruments import DATA_DIR, Instrument, load_file

TRANSLATIONS = ("es",)
ENGLISH_FILES = sorted(DATA_DIR.glob("*.en.toml"))
CODES = [path.name.split(".")[0] for path in ENGLISH_FILES]

# Texts that are rightly the same in both languages, each with its reason. Nothing else may be.
SAME_IN_BOTH: dict[str, str] = {
    # ORS, SRS, CORS, CSRS, YCORS, YCSRS, GSRS, PHQ-9, GAD-7: the published abbreviations, used
    # untranslated in Spanish-language clinical literature and on the Spanish forms.
    "short_name": "abbreviation of the instrument's name",
}
# A note whose whole text is a confidence grade (H, M or L, docs/instruments.md) is a code.
CONFIDENCE_GRADES = {"H", "M", "L"}


def texts(instrument: Instrument) -> Iterator[tuple[str, str]]:
    """(field, text) of every text a person may read, in file order."""
    yield "name", instrument.name
    yield "short_name", instrument.short_name
    yield "instructions", instrument.instructions
    yield "copyright", instrument.copyright
    yield "licence", instrument.licence
    for item in instrument.items:
        where = f"items[{item.key}]"
        yield f"{where}.label", item.label
        yield f"{where}.prompt", item.prompt
        yield f"{where}.anchor_low", item.anchor_low
        yield f"{where}.anchor_high", item.anchor_high
        yield f"{where}.description", item.description
        for index, choice in enumerate(item.choices):
            yield f"{where}.choices[{index}]", choice
    if instrument.safety is not None:
        yield "safety.message", instrument.safety.message
    for key, note in instrument.notes.items():
        yield f"notes.{key}", note


def numbers(instrument: Instrument) -> dict[str, object]:
    """Everything that scores, flags or selects: a translation must not change any of it."""
    return {
        "kind": instrument.kind,
        "total": (instrument.total_min, instrument.total_max),
        "higher_is_better": instrument.higher_is_better,
        "thresholds": (
            instrument.reliable_change,
            instrument.alliance_cutoff,
            instrument.item_cutoff,
            instrument.drop_threshold,
        ),
        "flags": (
            instrument.allows_total_only,
            instrument.validated,
            instrument.faces,
            instrument.pictorial,
        ),
        "items": [
            (item.key, item.min, item.max, item.step, len(item.choices))
            for item in instrument.items
        ],
        "age_bands": instrument.age_bands,
        "safety": None
        if instrument.safety is None
        else (instrument.safety.item, instrument.safety.above),
    }


def pair(code: str, language: str) -> tuple[Instrument, Instrument]:
    path = DATA_DIR / f"{code}.{language}.toml"
    assert path.exists(), f"{code}: no {language} file ({path.name}) beside {code}.en.toml"
    return load_file(DATA_DIR / f"{code}.en.toml"), load_file(path)


def test_every_instrument_of_the_brief_ships_in_english_and_spanish() -> None:
    assert CODES == ["cors", "csrs", "gad7", "gsrs", "ors", "phq9", "srs", "ycors", "ycsrs"]
    assert sorted(path.name for path in DATA_DIR.glob("*.es.toml")) == [
        f"{code}.es.toml" for code in CODES
    ]


@pytest.mark.parametrize("language", TRANSLATIONS)
@pytest.mark.parametrize("code", CODES)
def test_a_translation_has_the_same_items_and_numbers_as_the_english_file(
    code: str, language: str
) -> None:
    english, translated = pair(code, language)
    assert translated.language == language
    assert numbers(translated) == numbers(english)


@pytest.mark.parametrize("language", TRANSLATIONS)
@pytest.mark.parametrize("code", CODES)
def test_every_text_of_an_instrument_is_translated(code: str, language: str) -> None:
    english, translated = pair(code, language)
    source, target = dict(texts(english)), dict(texts(translated))
    missing_notes = sorted(set(english.notes) - set(translated.notes))
    empty = [field for field, text in source.items() if text.strip() and not target[field].strip()]
    extra = [field for field, text in source.items() if not text.strip() and target[field].strip()]
    untranslated = [
        field
        for field, text in source.items()
        if text.strip()
        and target.get(field) == text
        and field not in SAME_IN_BOTH
        and not (field.startswith("notes.") and text in CONFIDENCE_GRADES)
    ]
    assert (missing_notes, empty, extra, untranslated) == ([], [], [], [])


@pytest.mark.parametrize("code", ["ors", "srs", "cors", "csrs", "ycors", "ycsrs", "gsrs"])
def test_the_licensed_family_is_marked_as_needing_the_agencys_licensed_wording(code: str) -> None:
    english, spanish = pair(code, "es")
    assert english.licence.startswith("Copyrighted")
    assert spanish.licence.startswith("Con derechos de autor")
    header = (DATA_DIR / f"{code}.es.toml").read_text(encoding="utf-8").split("\ncode =")[0]
    assert "licencia" in header and "docs/instruments.md" in header
    assert "licencia" in spanish.notes["wording"]


@pytest.mark.parametrize("code", ["phq9", "gad7"])
def test_the_public_domain_forms_say_so_in_spanish(code: str) -> None:
    _english, spanish = pair(code, "es")
    assert spanish.licence.startswith("Dominio público")
    assert spanish.items[0].choices[0] == "Ningún día"
