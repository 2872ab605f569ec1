"""Reading and checking instrument definition files (``<code>.<language>.toml``).

The shipped files live in ``data/`` beside this module. Extra directories (an agency's licensed
wording or translations) come from ``ALLIANCE_INSTRUMENT_DIRS`` (os.pathsep separated) and from the
arguments of ``load_instruments``; a later file with the same code and language replaces an earlier
one. The file format is described field by field in docs/instruments.md.
"""

from __future__ import annotations

import functools
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from alliance.science.instruments import age_bands as client_age_bands
from alliance.science.instruments.model import (
    GRID_TOLERANCE,
    KINDS,
    AgeBand,
    Instrument,
    Item,
    Kind,
    SafetyRule,
    on_grid,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
ENV_VAR = "ALLIANCE_INSTRUMENT_DIRS"
FALLBACK_LANGUAGE = "en"

Registry = dict[tuple[str, str], Instrument]


class InstrumentFileError(ValueError):
    """A definition file is malformed; ``path`` is the file and ``field`` the offending field."""

    def __init__(self, path: Path | str, field: str | None, problem: str) -> None:
        where = f"{path}: field {field!r}: " if field else f"{path}: "
        super().__init__(where + problem)
        self.path = Path(path)
        self.field = field


class UnknownInstrumentError(ValueError):
    """No definition is loaded for the requested instrument code."""


# ---------------------------------------------------------------------------------------------
# Public API


def load_instruments(*extra_dirs: str | os.PathLike[str]) -> Registry:
    """Shipped definitions, then those in ``ALLIANCE_INSTRUMENT_DIRS``, then ``extra_dirs``.

    Returns a mapping ``(code, language) -> Instrument``; later directories override earlier ones.
    """
    registry: Registry = dict(_shipped_registry())
    for directory in [*env_dirs(), *map(Path, extra_dirs)]:
        registry.update(load_directory(directory))
    return registry


def get_instrument(code: str, language: str = FALLBACK_LANGUAGE) -> Instrument:
    """The instrument in ``language`` ("de-CH" falls back to "de", then to English)."""
    return find_instrument(_default_registry(), code, language)


def all_instruments(language: str = FALLBACK_LANGUAGE) -> list[Instrument]:
    """One definition per instrument code, in ``language`` where available, sorted by code."""
    registry = _default_registry()
    codes = sorted({code for code, _ in registry})
    return [find_instrument(registry, code, language) for code in codes]


def reload_instruments() -> None:
    """Forget the cached registry (e.g. after changing ``ALLIANCE_INSTRUMENT_DIRS``)."""
    _default_registry.cache_clear()


def find_instrument(
    registry: Mapping[tuple[str, str], Instrument], code: str, language: str = FALLBACK_LANGUAGE
) -> Instrument:
    code = code.strip().lower()
    for candidate in _language_chain(language):
        if (code, candidate) in registry:
            return registry[(code, candidate)]
    known = ", ".join(sorted({c for c, _ in registry}))
    raise UnknownInstrumentError(f"unknown instrument {code!r} (known: {known})")


def env_dirs() -> list[Path]:
    value = os.environ.get(ENV_VAR, "")
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def load_directory(directory: str | os.PathLike[str]) -> Registry:
    directory = Path(directory)
    if not directory.is_dir():
        raise InstrumentFileError(directory, None, "instrument directory not found")
    found: Registry = {}
    for path in sorted(directory.glob("*.toml")):
        # The file name must be <code>.<language>.toml, so one directory cannot hold two
        # definitions of the same instrument and language.
        instrument = load_file(path)
        found[(instrument.code, instrument.language)] = instrument
    return found


def load_file(path: str | os.PathLike[str]) -> Instrument:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise InstrumentFileError(path, None, f"not valid TOML: {error}") from error
    except OSError as error:
        raise InstrumentFileError(path, None, f"cannot read the file: {error}") from error
    return _Parser(path, data).instrument()


# ---------------------------------------------------------------------------------------------
# Caching: the shipped files are parsed once per process.


@functools.cache
def _shipped_registry() -> Registry:
    return load_directory(DATA_DIR)


@functools.cache
def _default_registry() -> Registry:
    return load_instruments()


def _language_chain(language: str) -> list[str]:
    language = language.strip().replace("_", "-")
    chain = [language]
    if "-" in language:
        chain.append(language.split("-", 1)[0])
    chain.append(FALLBACK_LANGUAGE)
    return chain


# ---------------------------------------------------------------------------------------------
# Parsing and checking one file


class _Parser:
    """Turns one TOML document into an Instrument, naming the file and field on any problem."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, field: str | None, problem: str) -> InstrumentFileError:
        return InstrumentFileError(self.path, field, problem)

    def instrument(self) -> Instrument:
        code = self.text(self.data, "code")
        language = self.text(self.data, "language")
        self.check_file_name(code, language)
        kind = self.text(self.data, "kind")
        if kind not in KINDS:
            raise self.fail("kind", f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        items = self.items()
        total_min = self.number(self.data, "total_min")
        total_max = self.number(self.data, "total_max")
        self.check_total_range(items, total_min, total_max)
        allows_total_only = self.flag(self.data, "allows_total_only", default=False)
        if allows_total_only:
            self.check_items_alike(items)
        instrument = Instrument(
            code=code,
            language=language,
            name=self.text(self.data, "name"),
            kind=cast(Kind, kind),
            items=items,
            total_min=total_min,
            total_max=total_max,
            higher_is_better=self.flag(self.data, "higher_is_better"),
            age_bands=self.age_bands(),
            reliable_change=self.positive(self.data, "reliable_change"),
            alliance_cutoff=self.optional_number(self.data, "alliance_cutoff"),
            item_cutoff=self.optional_number(self.data, "item_cutoff"),
            drop_threshold=self.positive(self.data, "drop_threshold"),
            allows_total_only=allows_total_only,
            validated=self.flag(self.data, "validated", default=True),
            licence=self.text(self.data, "licence"),
            source_file=self.path,
            short_name=self.text(self.data, "short_name", default=code.upper()),
            instructions=self.text(self.data, "instructions", default=""),
            copyright=self.text(self.data, "copyright"),
            faces=self.flag(self.data, "faces", default=False),
            pictorial=self.flag(self.data, "pictorial", default=False),
            notes=self.notes(),
            safety=self.safety(items),
        )
        self.check_cutoffs(instrument)
        return instrument

    # -- structure ------------------------------------------------------------------------------

    def check_file_name(self, code: str, language: str) -> None:
        expected = f"{code}.{language}.toml"
        if self.path.name != expected:
            field = "code" if not self.path.name.startswith(f"{code}.") else "language"
            raise self.fail(
                field, f"the file name must be <code>.<language>.toml, i.e. {expected!r}"
            )

    def items(self) -> tuple[Item, ...]:
        raw_items = self.data.get("items")
        if raw_items is None:
            raise self.fail("items", "missing field")
        if not isinstance(raw_items, list) or not raw_items:
            raise self.fail("items", "must be a non-empty list of [[items]] tables")
        defaults = self.data.get("item_defaults", {})
        if not isinstance(defaults, dict):
            raise self.fail("item_defaults", "must be a table")
        items: list[Item] = []
        for index, raw in enumerate(raw_items, start=1):
            if not isinstance(raw, dict):
                raise self.fail(f"items[{index}]", "must be a table")
            item = self.item({**defaults, **raw}, f"items[{index}]")
            if any(existing.key == item.key for existing in items):
                raise self.fail(f"items[{index}].key", f"duplicate item key {item.key!r}")
            items.append(item)
        return tuple(items)

    def item(self, raw: dict[str, Any], where: str) -> Item:
        low = self.number(raw, "min", where)
        high = self.number(raw, "max", where)
        step = self.number(raw, "step", where)
        if low >= high:
            raise self.fail(f"{where}.min", f"min ({low:g}) must be below max ({high:g})")
        if step <= 0:
            raise self.fail(f"{where}.step", f"step must be above 0, got {step:g}")
        if not on_grid(high, low, step):
            raise self.fail(f"{where}.step", f"max {high:g} is not reachable in steps of {step:g}")
        choices = raw.get("choices", [])
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise self.fail(f"{where}.choices", "must be a list of texts")
        n_points = round((high - low) / step) + 1
        if choices and len(choices) != n_points:
            raise self.fail(
                f"{where}.choices", f"needs one text per value ({n_points}), got {len(choices)}"
            )
        key = self.text(raw, "key", where)
        label = self.text(raw, "label", where)
        return Item(
            key=key,
            label=label,
            anchor_low=self.text(raw, "anchor_low", where),
            anchor_high=self.text(raw, "anchor_high", where),
            min=low,
            max=high,
            step=step,
            prompt=self.text(raw, "prompt", where, default=label),
            description=self.text(raw, "description", where, default=""),
            choices=tuple(choices),
        )

    def age_bands(self) -> tuple[AgeBand, ...]:
        raw_bands = self.data.get("age_bands", [])
        if not isinstance(raw_bands, list):
            raise self.fail("age_bands", "must be a list of [[age_bands]] tables")
        bands: list[AgeBand] = []
        for index, raw in enumerate(raw_bands, start=1):
            where = f"age_bands[{index}]"
            if not isinstance(raw, dict):
                raise self.fail(where, "must be a table")
            name = self.text(raw, "name", where)
            min_age, max_age = self.band_ages(raw, name, where)
            band = AgeBand(
                name=name,
                min_age=min_age,
                max_age=max_age,
                clinical_cutoff=self.optional_number(raw, "clinical_cutoff", where),
                confidence=self.text(raw, "confidence", where, default=""),
            )
            if (
                band.min_age is not None
                and band.max_age is not None
                and band.min_age > band.max_age
            ):
                raise self.fail(f"{where}.min_age", "min_age must not be above max_age")
            if any(existing.name == band.name for existing in bands):
                raise self.fail(f"{where}.name", f"duplicate age band {band.name!r}")
            bands.append(band)
        return tuple(bands)

    def band_ages(self, raw: Mapping[str, Any], name: str, where: str) -> tuple[int | None, ...]:
        """A band of ``age_bands.AGE_BANDS`` takes its ages from there (stated ones must agree);
        a band of the agency's own gives its ages in the file."""
        ages = (self.optional_int(raw, "min_age", where), self.optional_int(raw, "max_age", where))
        if name not in client_age_bands.AGE_BAND_NAMES:
            return ages
        known = client_age_bands.age_band(name)
        for field, stated, defined in zip(
            ("min_age", "max_age"), ages, (known.min_age, known.max_age), strict=True
        ):
            if stated is not None and stated != defined:
                shown = "no limit" if defined is None else defined
                raise self.fail(
                    f"{where}.{field}", f"the {name} band's {field} is {shown}, not {stated}"
                )
        return known.min_age, known.max_age

    def notes(self) -> dict[str, str]:
        raw = self.data.get("notes", {})
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise self.fail("notes", "must be a table of texts")
        return dict(raw)

    def safety(self, items: tuple[Item, ...]) -> SafetyRule | None:
        """``[safety]``: an item whose answer above ``above`` raises a safety alert."""
        raw = self.data.get("safety")
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.fail("safety", "must be a table with item, above and message")
        key = self.text(raw, "item", "safety")
        item = next((item for item in items if item.key == key), None)
        if item is None:
            raise self.fail("safety.item", f"no item with the key {key!r}")
        above = self.number(raw, "above", "safety")
        if not item.min <= above < item.max:
            raise self.fail(
                "safety.above",
                f"must be at least {item.min:g} and below {item.max:g}, got {above:g}",
            )
        return SafetyRule(item=key, above=above, message=self.text(raw, "message", "safety"))

    # -- consistency ----------------------------------------------------------------------------

    def check_total_range(self, items: tuple[Item, ...], low: float, high: float) -> None:
        if low >= high:
            raise self.fail("total_min", f"total_min ({low:g}) must be below total_max ({high:g})")
        item_low = math.fsum(item.min for item in items)
        item_high = math.fsum(item.max for item in items)
        if abs(low - item_low) > GRID_TOLERANCE:
            raise self.fail("total_min", f"must equal the sum of the item minimums ({item_low:g})")
        if abs(high - item_high) > GRID_TOLERANCE:
            raise self.fail("total_max", f"must equal the sum of the item maximums ({item_high:g})")

    def check_items_alike(self, items: tuple[Item, ...]) -> None:
        # A total-only entry splits the total evenly, which only means something when every
        # item has the same range and grid.
        first = items[0]
        for item in items[1:]:
            if (item.min, item.max, item.step) != (first.min, first.max, first.step):
                raise self.fail(
                    "allows_total_only", "needs every item to share the same min, max and step"
                )

    def check_cutoffs(self, instrument: Instrument) -> None:
        low, high = instrument.total_min, instrument.total_max
        checks: list[tuple[str, float | None]] = [
            ("alliance_cutoff", instrument.alliance_cutoff),
            *(
                (f"age_bands[{i}].clinical_cutoff", band.clinical_cutoff)
                for i, band in enumerate(instrument.age_bands, start=1)
            ),
        ]
        for field, value in checks:
            if value is not None and not low <= value <= high:
                raise self.fail(field, f"{value:g} is outside the total range {low:g}-{high:g}")
        if instrument.reliable_change is not None and instrument.reliable_change > high - low:
            raise self.fail("reliable_change", "is larger than the whole total range")
        item_cutoff = instrument.item_cutoff
        if item_cutoff is not None and not all(
            item.min <= item_cutoff <= item.max for item in instrument.items
        ):
            raise self.fail("item_cutoff", f"{item_cutoff:g} is outside the item range")

    # -- typed field access ---------------------------------------------------------------------

    _MISSING = object()

    def _get(self, table: Mapping[str, Any], name: str, where: str | None, default: object) -> Any:
        if name in table:
            return table[name]
        if default is self._MISSING:
            raise self.fail(_field(where, name), "missing field")
        return default

    def text(
        self,
        table: Mapping[str, Any],
        name: str,
        where: str | None = None,
        default: object = _MISSING,
    ) -> str:
        value = self._get(table, name, where, default)
        if not isinstance(value, str):
            raise self.fail(_field(where, name), f"must be text, got {type(value).__name__}")
        if not value.strip() and default is self._MISSING:
            raise self.fail(_field(where, name), "must not be empty")
        return value

    def flag(self, table: Mapping[str, Any], name: str, default: object = _MISSING) -> bool:
        value = self._get(table, name, None, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {value!r}")
        return value

    def number(self, table: Mapping[str, Any], name: str, where: str | None = None) -> float:
        value = self._get(table, name, where, self._MISSING)
        return self._as_number(value, _field(where, name))

    def optional_number(
        self, table: Mapping[str, Any], name: str, where: str | None = None
    ) -> float | None:
        value = self._get(table, name, where, None)
        return None if value is None else self._as_number(value, _field(where, name))

    def positive(self, table: Mapping[str, Any], name: str) -> float | None:
        value = self.optional_number(table, name)
        if value is not None and value <= 0:
            raise self.fail(name, f"must be above 0, got {value:g}")
        return value

    def optional_int(self, table: Mapping[str, Any], name: str, where: str) -> int | None:
        value = self._get(table, name, where, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(_field(where, name), f"must be a whole number, got {value!r}")
        return value

    def _as_number(self, value: object, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(field, f"must be a finite number, got {value!r}")
        return float(value)


def _field(where: str | None, name: str) -> str:
    return f"{where}.{name}" if where else name
