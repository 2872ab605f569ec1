"""Instrument definitions and response scoring (the definitions come from data files, see loader)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

Kind = Literal["outcome", "alliance", "symptom"]
KINDS: tuple[str, ...] = ("outcome", "alliance", "symptom")

# Item values are measured to the step (0.1 for a 10 cm line); anything within this distance of a
# grid point is float noise (7.3 / 0.1 = 72.99999999999999), not a mark between two grid points.
GRID_TOLERANCE = 1e-6


class ResponseError(ValueError):
    """A response does not fit its instrument; ``item`` is the item key, or None for the total."""

    def __init__(self, message: str, item: str | None = None) -> None:
        super().__init__(message)
        self.item = item


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    anchor_low: str
    anchor_high: str
    min: float
    max: float
    step: float
    prompt: str = ""
    description: str = ""
    choices: tuple[str, ...] = ()

    @property
    def decimals(self) -> int:
        return step_decimals(self.step)


@dataclass(frozen=True)
class AgeBand:
    name: str
    min_age: int | None
    max_age: int | None
    clinical_cutoff: float | None = None
    confidence: str = ""

    def contains(self, age: int) -> bool:
        above_min = self.min_age is None or age >= self.min_age
        below_max = self.max_age is None or age <= self.max_age
        return above_min and below_max


@dataclass(frozen=True)
class ScoredResponse:
    items: dict[str, float]
    total: float
    total_only: bool = False


@dataclass(frozen=True)
class Instrument:
    code: str
    language: str
    name: str
    kind: Kind
    items: tuple[Item, ...]
    total_min: float
    total_max: float
    higher_is_better: bool
    age_bands: tuple[AgeBand, ...] = ()
    reliable_change: float | None = None
    alliance_cutoff: float | None = None
    item_cutoff: float | None = None
    drop_threshold: float | None = None
    allows_total_only: bool = False
    validated: bool = True
    licence: str = ""
    source_file: Path | None = None
    short_name: str = ""
    instructions: str = ""
    copyright: str = ""
    faces: bool = False
    pictorial: bool = False
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def direction(self) -> int:
        """+1 when higher scores are better, -1 when lower scores are better (PHQ-9, GAD-7)."""
        return direction(self.higher_is_better)

    @property
    def display_name(self) -> str:
        return self.short_name or self.code.upper()

    @property
    def item_keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.items)

    @property
    def decimals(self) -> int:
        return max(item.decimals for item in self.items)

    def item(self, key: str) -> Item:
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def age_band(self, name: str) -> AgeBand | None:
        return next((band for band in self.age_bands if band.name == name), None)

    def clinical_cutoff(self, age_band: str | None = None) -> float | None:
        """The clinical cutoff for ``age_band``; without one, the adult band's (or the only band's).

        Returns None when the instrument has no cutoff for that band.
        """
        if age_band is not None:
            band = self.age_band(age_band)
        elif len(self.age_bands) == 1:
            band = self.age_bands[0]
        else:
            band = self.age_band("adult")
        return band.clinical_cutoff if band is not None else None

    def is_clinical(self, total: float, age_band: str | None = None) -> bool | None:
        """Is ``total`` in the clinical range? Below the cutoff when higher is better, at or above
        it (caseness) when lower is better. None when there is no cutoff for the band."""
        cutoff = self.clinical_cutoff(age_band)
        if cutoff is None:
            return None
        return total < cutoff if self.higher_is_better else total >= cutoff

    def score(self, items: Mapping[str, object]) -> ScoredResponse:
        """Validate a full item response and total it (rounded to the items' decimals)."""
        known = set(self.item_keys)
        for key in items:
            if key not in known:
                raise ResponseError(
                    f"Unknown item {key!r} for {self.display_name} "
                    f"(expected: {', '.join(self.item_keys)})",
                    item=str(key),
                )
        values: dict[str, float] = {}
        for item in self.items:
            if item.key not in items:
                raise ResponseError(f"Item {item.label!r} is missing", item=item.key)
            values[item.key] = _checked_value(
                items[item.key], item.label, item.key, item.min, item.max, item.step
            )
        total = round(math.fsum(values.values()), self.decimals)
        return ScoredResponse(items=values, total=total, total_only=False)

    def score_total(self, total: object) -> ScoredResponse:
        """Accept a total without items (paper or phone entry): the items stay empty.

        Nothing is invented for the items: readers use the total, and ``total_only`` says that
        the item scores were never given.
        """
        if not self.allows_total_only:
            raise ResponseError(
                f"{self.display_name} needs every item: a total on its own is not accepted"
            )
        step = min(item.step for item in self.items)
        value = _checked_value(total, "Total", None, self.total_min, self.total_max, step)
        value = round(value, self.decimals)
        return ScoredResponse(items={}, total=value, total_only=True)


def direction(higher_is_better: bool) -> int:
    """+1 when higher scores are better, -1 when lower are: comparisons use ``direction * score``."""
    return 1 if higher_is_better else -1


def step_decimals(step: float) -> int:
    """Number of decimals a step implies: 0.1 -> 1, 1 -> 0, 0.25 -> 2."""
    exponent = Decimal(repr(float(step))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def on_grid(value: float, start: float, step: float) -> bool:
    steps = (value - start) / step
    return abs(steps - round(steps)) <= GRID_TOLERANCE


def as_number(value: object) -> float | None:
    """The value as a finite float, or None when it is not a usable number.

    Numeric strings ("7.5") are accepted because web forms and CSV files deliver text; booleans are
    refused although Python treats them as numbers, since True is never a meant rating.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, numbers.Real | Decimal):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _checked_value(
    raw: object, label: str, key: str | None, low: float, high: float, step: float
) -> float:
    number = as_number(raw)
    if number is None:
        raise ResponseError(f"{label!r} must be a number, got {raw!r}", item=key)
    if not low - GRID_TOLERANCE <= number <= high + GRID_TOLERANCE:
        raise ResponseError(
            f"{label!r} must be between {low:g} and {high:g}, got {number:g}", item=key
        )
    if not on_grid(number, low, step):
        raise ResponseError(f"{label!r} must be in steps of {step:g}, got {number:g}", item=key)
    return round(number, step_decimals(step))
