"""ETR model files: the JSON format (write and read), its validation and the shipped defaults."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from alliance.science.etr.model import (
    MODEL_FORMAT,
    EtrError,
    EtrModel,
    EtrParameters,
)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class ModelFileError(EtrError):
    """A model file is missing or malformed; ``.path`` and ``.field`` name the problem."""

    def __init__(self, path: str | os.PathLike[str], field_name: str | None, problem: str) -> None:
        self.path = str(path)
        self.field = field_name
        where = f"field {field_name!r}: " if field_name else ""
        super().__init__(f"model file {self.path}: {where}{problem}")


def load_model(path: str | os.PathLike[str]) -> EtrModel:
    """Read a model file written by ``EtrModel.save``; errors name the file and the field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise ModelFileError(path, None, "file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ModelFileError(path, None, f"cannot read it ({error})") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelFileError(path, None, f"not valid JSON ({error})") from error
    return model_from_dict(data, source=path)


def model_from_dict(data: Any, source: str | os.PathLike[str] = "<dict>") -> EtrModel:
    if not isinstance(data, dict):
        raise ModelFileError(source, None, "must be a JSON object")
    reader = _FieldReader(data, source)
    if reader.text("format") != MODEL_FORMAT:
        raise ModelFileError(source, "format", f"must be {MODEL_FORMAT!r}")
    parameters = reader.mapping("parameters")
    params = _FieldReader(parameters, source, prefix="parameters.")
    percentiles = _FieldReader(reader.mapping("percentiles"), source, prefix="percentiles.")
    score_range = reader.value("score_range")
    if not (
        isinstance(score_range, list)
        and len(score_range) == 2
        and all(_is_number(v) for v in score_range)
        and score_range[0] < score_range[1]
    ):
        raise ModelFileError(source, "score_range", "must be [minimum, maximum] numbers")
    final_sessions = _final_sessions(reader.mapping("final_sessions"), source)
    model = EtrModel(
        name=reader.text("name"),
        instrument=reader.text("instrument"),
        parameters=EtrParameters(
            slope_at_centre=params.number("slope_at_centre"),
            intake_slope=params.number("intake_slope"),
            intake_centre=params.number("intake_centre"),
            var_intercept=params.number("var_intercept", minimum=0.0),
            cov_intercept_slope=params.number("cov_intercept_slope"),
            var_slope=params.number("var_slope", minimum=0.0),
            var_residual=params.number("var_residual", minimum=0.0, strictly=True),
        ),
        score_min=float(score_range[0]),
        score_max=float(score_range[1]),
        higher_is_better=reader.boolean("higher_is_better"),
        reliable_change=reader.number("reliable_change", minimum=0.0, strictly=True),
        final_sessions=final_sessions,
        n_episodes=int(reader.number("n_episodes", minimum=0.0)),
        n_administrations=int(reader.number("n_administrations", minimum=0.0)),
        fitted_on=reader.text("fitted_on"),
        provenance=reader.text("provenance"),
        provisional=reader.boolean("provisional"),
        target_percentile=percentiles.percent("target"),
        negative_percentile=percentiles.percent("negative"),
        method=reader.text("method"),
        extra=data.get("extra", {}) if isinstance(data.get("extra", {}), dict) else {},
    )
    if model.negative_percentile >= model.target_percentile:
        raise ModelFileError(source, "percentiles.negative", "must be below percentiles.target")
    return model


def default_model(instrument: str = "ors") -> EtrModel:
    """The provisional model shipped with the package (see docs/etr.md for how it was made)."""
    path = MODELS_DIR / f"default_etr_{instrument.lower()}.json"
    if not path.exists():
        shipped = sorted(p.stem.removeprefix("default_etr_") for p in MODELS_DIR.glob("*.json"))
        raise EtrError(
            f"no default ETR model for instrument {instrument!r} "
            f"(shipped: {', '.join(shipped) or 'none'}); fit one with `alliance etr fit`"
        )
    return load_model(path)


class _FieldReader:
    def __init__(self, data: dict[str, Any], source: str | os.PathLike[str], prefix: str = ""):
        self.data = data
        self.source = source
        self.prefix = prefix

    def value(self, key: str) -> Any:
        if key not in self.data:
            raise ModelFileError(self.source, self.prefix + key, "missing")
        return self.data[key]

    def number(self, key: str, minimum: float | None = None, strictly: bool = False) -> float:
        value = self.value(key)
        if not _is_number(value) or not math.isfinite(value):
            raise ModelFileError(self.source, self.prefix + key, f"must be a number, not {value!r}")
        if minimum is not None and (value < minimum or (strictly and value == minimum)):
            relation = "above" if strictly else "at least"
            raise ModelFileError(
                self.source, self.prefix + key, f"must be {relation} {minimum:g}, not {value!r}"
            )
        return float(value)

    def percent(self, key: str) -> float:
        value = self.number(key)
        if not 0.0 < value < 100.0:
            raise ModelFileError(self.source, self.prefix + key, "must be between 0 and 100")
        return value

    def text(self, key: str) -> str:
        value = self.value(key)
        if not isinstance(value, str):
            raise ModelFileError(self.source, self.prefix + key, f"must be text, not {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        value = self.value(key)
        if not isinstance(value, bool):
            raise ModelFileError(self.source, self.prefix + key, "must be true or false")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.value(key)
        if not isinstance(value, dict):
            raise ModelFileError(self.source, self.prefix + key, "must be a JSON object")
        return value


def _final_sessions(raw: dict[str, Any], source: str | os.PathLike[str]) -> dict[int, float]:
    result: dict[int, float] = {}
    for key, weight in raw.items():
        if not key.isdigit() or int(key) < 2 or not _is_number(weight) or weight < 0:
            raise ModelFileError(
                source, f"final_sessions.{key}", "keys must be session numbers >= 2, values >= 0"
            )
        result[int(key)] = float(weight)
    if not result or sum(result.values()) <= 0:
        raise ModelFileError(source, "final_sessions", "needs at least one positive weight")
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
