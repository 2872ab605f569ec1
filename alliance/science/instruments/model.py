"""Instrument definitions and response scoring (the definitions come from data files, see loader)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["outcome", "alliance", "symptom"]
KINDS: tuple[str, ...] = ("outcome", "alliance", "symptom")

# Item values are measured to the step (0.1 for a 10 cm line); anything within this distance of a
# grid point is float noise (7.3 / 0.1 = 72.99999999999999), not a mark between two grid points.
GRID_TOLERANCE = 1e-6


class ResponseError(ValueError):
    """A response does not fit its instrument; ``item`` is the item key, or None for the total.

    ``reason`` says what is wrong in a word a caller can turn into its own message: "unknown"
    (no such item), "missing", "number" (not a number), "range" (outside ``low``..``high``),
    "step" (between two points of the ``step`` grid) or "total_only" (a total is not accepted).
    """

    def __init__(
        self,
        message: str,
        item: str | None = None,
        *,
        reason: str = "",
        low: float | None = None,
        high: float | None = None,
        step: float | None = None,
    ) -> None:
        super().__init__(message)
        self.item = item
        self.reason = reason
        self.low = low
        self.high = high
        self.step = step


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
class SafetyRule:
    """An item whose answer above ``above`` needs a risk conversation now, whatever the total
    (PHQ-9 item 9). ``message`` is the instrument file's wording for that conversation."""

    item: str
    above: float
    message: str

    def raised_by(self, value: object) -> bool:
        number = as_number(value)
        return number is not None and number > self.above + GRID_TOLERANCE


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
    safety: SafetyRule | None = None

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
        """Is ``total`` in the clinical range (``in_clinical_range``)? None without a cutoff."""
        cutoff = self.clinical_cutoff(age_band)
        if cutoff is None:
            return None
        return bool(in_clinical_range(total, cutoff, self.higher_is_better))

    def score(self, items: Mapping[str, object]) -> ScoredResponse:
        """Validate a full item response and total it (rounded to the items' decimals)."""
        known = set(self.item_keys)
        for key in items:
            if key not in known:
                raise ResponseError(
                    f"Unknown item {key!r} for {self.display_name} "
                    f"(expected: {', '.join(self.item_keys)})",
                    item=str(key),
                    reason="unknown",
                )
        values: dict[str, float] = {}
        for item in self.items:
            if item.key not in items:
                raise ResponseError(
                    f"Item {item.label!r} is missing", item=item.key, reason="missing"
                )
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
                f"{self.display_name} needs every item: a total on its own is not accepted",
                reason="total_only",
            )
        step = min(item.step for item in self.items)
        value = _checked_value(total, "Total", None, self.total_min, self.total_max, step)
        value = round(value, self.decimals)
        return ScoredResponse(items={}, total=value, total_only=True)


def direction(higher_is_better: bool) -> int:
    """+1 when higher scores are better, -1 when lower are: comparisons use ``direction * score``."""
    return 1 if higher_is_better else -1


# Scores and changes on a 0.1 grid carry float noise (25.0 - 20.1 = 4.899999999999999).
BOUNDARY_TOLERANCE = 1e-9


def in_clinical_range(
    totals: npt.ArrayLike, cutoff: npt.ArrayLike, higher_is_better: bool
) -> npt.NDArray[np.bool_]:
    """The one rule for a score exactly on an instrument's cutoff (effectiveness, signals, the
    client's graph and ``Instrument.is_clinical`` all ask here; docs/change.md).

    Higher is better (ORS, CORS, YCORS): below the cutoff is clinical, a score on it is not (ORS
    25 is "at or above the cutoff", as PCOMS counts clinically significant change). Lower is
    better (PHQ-9, GAD-7): at or above the cutoff is clinical (caseness PHQ-9 >= 10, GAD-7 >= 8).
    A missing (NaN) cutoff puts nothing in the clinical range.
    """
    scores = np.asarray(totals, dtype=float)
    limits = np.asarray(cutoff, dtype=float)
    with np.errstate(invalid="ignore"):
        if higher_is_better:
            return np.asarray(scores < limits - BOUNDARY_TOLERANCE)
        return np.asarray(scores >= limits - BOUNDARY_TOLERANCE)


def is_reliable_change(gain: npt.ArrayLike, threshold: float) -> npt.NDArray[np.bool_]:
    """The one rule for a change of exactly the instrument's reliable-change points: it counts
    (PHQ-9 >= 6, GAD-7 >= 4, ORS >= 5). ``gain`` is the change in the better direction for
    improvement, or in the worse direction for deterioration."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.asarray(gain, dtype=float) >= threshold - BOUNDARY_TOLERANCE)


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
        raise ResponseError(
            f"{label!r} must be a number, got {raw!r}",
            item=key,
            reason="number",
            low=low,
            high=high,
            step=step,
        )
    if not low - GRID_TOLERANCE <= number <= high + GRID_TOLERANCE:
        raise ResponseError(
            f"{label!r} must be between {low:g} and {high:g}, got {number:g}",
            item=key,
            reason="range",
            low=low,
            high=high,
            step=step,
        )
    if not on_grid(number, low, step):
        raise ResponseError(
            f"{label!r} must be in steps of {step:g}, got {number:g}",
            item=key,
            reason="step",
            low=low,
            high=high,
            step=step,
        )
    return round(number, step_decimals(step))
