"""The age bands clients are grouped in: names, ages and the forms each band fills in by default.

This is the one definition. The web app's choices, its validation and the reports' filters derive
from it; an instrument file's ``[[age_bands]]`` names one of these bands to give its clinical
cutoff for that band (its ages come from here: a file that states them must agree); the simulator
takes the forms of each band from here.
"""

from __future__ import annotations

from dataclasses import dataclass


def gettext_noop(message: str) -> str:
    """Marks a label for the translation catalogue; the web app translates it when it shows it."""
    return message


class UnknownAgeBandError(ValueError):
    """The name is not one of ``AGE_BAND_NAMES``."""


@dataclass(frozen=True)
class AgeBandDefinition:
    name: str
    label: str  # English; the web app shows it through its translation catalogue
    min_age: int
    max_age: int | None  # None: no upper limit
    outcome_form: str  # instrument codes the band fills in unless the therapist chooses others
    alliance_form: str

    def contains(self, age: int) -> bool:
        return age >= self.min_age and (self.max_age is None or age <= self.max_age)

    @property
    def forms(self) -> tuple[str, str]:
        return self.outcome_form, self.alliance_form


# Youngest first, without gaps: every age from 0 up falls into exactly one band.
AGE_BANDS: tuple[AgeBandDefinition, ...] = (
    AgeBandDefinition(
        "young_child", gettext_noop("Young child (5 and under)"), 0, 5, "ycors", "ycsrs"
    ),
    AgeBandDefinition("child", gettext_noop("Child (6-12)"), 6, 12, "cors", "csrs"),
    AgeBandDefinition("adolescent", gettext_noop("Adolescent (13-17)"), 13, 17, "ors", "srs"),
    AgeBandDefinition("adult", gettext_noop("Adult (18+)"), 18, None, "ors", "srs"),
)
AGE_BAND_NAMES: tuple[str, ...] = tuple(band.name for band in AGE_BANDS)
DEFAULT_AGE_BAND = "adult"


def age_band(name: str) -> AgeBandDefinition:
    for band in AGE_BANDS:
        if band.name == name:
            return band
    raise UnknownAgeBandError(f"unknown age band {name!r} (expected {', '.join(AGE_BAND_NAMES)})")


def age_band_for_age(age: int) -> str:
    """The band of someone ``age`` years old (a negative age counts as 0)."""
    age = max(age, 0)
    return next(band.name for band in AGE_BANDS if band.contains(age))


def default_forms(name: str) -> tuple[str, str]:
    """(outcome, alliance) instrument codes for the band; the adult forms for an unknown band."""
    try:
        return age_band(name).forms
    except UnknownAgeBandError:
        return age_band(DEFAULT_AGE_BAND).forms
