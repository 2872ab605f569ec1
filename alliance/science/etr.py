"""Expected treatment response (ETR): fit, predict, percentile, success probability, calibrate.

The model (docs/etr.md explains the choice) describes the change from intake of one episode as

    score(k) - intake = f(intake) * log(k) + a + b * log(k) + e        for sessions k >= 2

where ``k`` is the session index counted from the intake administration (k = 1 is the intake),
``f(intake) = slope_at_centre + intake_slope * (intake - intake_centre)`` is the typical change per
unit of log(session) for clients with that intake, ``(a, b)`` is the episode's random intercept and
random slope (covariance ``G``) and ``e`` the session noise (variance ``sigma^2``). The random
intercept absorbs the measurement error of the intake itself, which every later change shares.

The fixed part is fitted by ordinary least squares (unbiased under the correlated errors), the
variance components by the method of moments on within-episode residual cross-products, computed
from per-episode sums so that a million administrations fit in seconds. The predictive distribution
at session k is normal with mean ``intake + f(intake) log k`` and variance
``G11 + 2 G12 log k + G22 log^2 k + sigma^2``; percentile lines are its quantiles, clipped to the
instrument's range. Session 1 is the intake itself.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

MODEL_FORMAT = "alliance-etr"
MODEL_VERSION = 1
METHOD = "ols-log-session-intake-moments-v1"
DEFAULT_MIN_EPISODES = 200
MODELS_DIR = Path(__file__).resolve().parent / "models"

FloatArray = npt.NDArray[np.float64]


class EtrError(ValueError):
    """Bad input to the ETR functions; the message says what is wrong."""


class ModelFileError(EtrError):
    """A model file is missing or malformed; ``.path`` and ``.field`` name the problem."""

    def __init__(self, path: str | os.PathLike[str], field_name: str | None, problem: str) -> None:
        self.path = str(path)
        self.field = field_name
        where = f"field {field_name!r}: " if field_name else ""
        super().__init__(f"model file {self.path}: {where}{problem}")


@dataclass(frozen=True)
class Trajectory:
    """Target (expected) and negative (low-percentile) scores for one intake over sessions."""

    intake: float
    sessions: npt.NDArray[np.int64]
    target: FloatArray
    negative: FloatArray
    provisional: bool = False


@dataclass(frozen=True)
class EtrParameters:
    slope_at_centre: float
    intake_slope: float
    intake_centre: float
    var_intercept: float
    cov_intercept_slope: float
    var_slope: float
    var_residual: float


@dataclass
class EtrModel:
    """A fitted ETR model for one instrument; see the module docstring for the equations."""

    name: str
    instrument: str
    parameters: EtrParameters
    score_min: float
    score_max: float
    higher_is_better: bool
    reliable_change: float
    final_sessions: dict[int, float]
    n_episodes: int
    n_administrations: int
    fitted_on: str
    provenance: str
    provisional: bool
    target_percentile: float = 50.0
    negative_percentile: float = 25.0
    method: str = METHOD
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> int:
        return 1 if self.higher_is_better else -1

    # ----- trajectories -------------------------------------------------------------------
    def expected_change(self, intakes: npt.ArrayLike, sessions: npt.ArrayLike) -> FloatArray:
        """Mean change from intake at each session (0 at session 1)."""
        intake = np.asarray(intakes, dtype=float)
        log_k = _log_sessions(sessions)
        p = self.parameters
        return (p.slope_at_centre + p.intake_slope * (intake - p.intake_centre)) * log_k

    def predictive_sd(self, sessions: npt.ArrayLike) -> FloatArray:
        """SD of a new client's score around the mean at each session (0 at session 1)."""
        log_k = _log_sessions(sessions)
        p = self.parameters
        variance = (
            p.var_intercept
            + 2.0 * p.cov_intercept_slope * log_k
            + p.var_slope * log_k**2
            + p.var_residual
        )
        return np.where(log_k > 0, np.sqrt(np.maximum(variance, 0.0)), 0.0)

    def scores_at_percentile(
        self, intakes: npt.ArrayLike, sessions: npt.ArrayLike, percentile: float
    ) -> FloatArray:
        """The score below which ``percentile`` % of reference clients do worse (clipped)."""
        if not 0.0 < percentile < 100.0:
            raise EtrError(f"percentile must be strictly between 0 and 100, not {percentile!r}")
        intake = self._checked_intakes(intakes)
        # "Worse" depends on direction: for lower-is-better scales the low-percentile line lies above.
        z = self.direction * stats.norm.ppf(percentile / 100.0)
        mean = intake + self.expected_change(intake, sessions)
        return np.clip(mean + z * self.predictive_sd(sessions), self.score_min, self.score_max)

    def target_scores(self, intakes: npt.ArrayLike, sessions: npt.ArrayLike) -> FloatArray:
        return self.scores_at_percentile(intakes, sessions, self.target_percentile)

    def negative_scores(self, intakes: npt.ArrayLike, sessions: npt.ArrayLike) -> FloatArray:
        return self.scores_at_percentile(intakes, sessions, self.negative_percentile)

    def predict(self, intake: float, sessions: int | Sequence[int]) -> Trajectory:
        """Trajectories for sessions 1..N (an int) or for the listed session numbers."""
        if isinstance(sessions, int | np.integer):
            if sessions < 1:
                raise EtrError(f"sessions must be 1 or more, not {sessions}")
            numbers = np.arange(1, int(sessions) + 1, dtype=np.int64)
        else:
            numbers = np.asarray(sessions, dtype=np.int64)
        return Trajectory(
            intake=float(intake),
            sessions=numbers,
            target=self.target_scores(intake, numbers),
            negative=self.negative_scores(intake, numbers),
            provisional=self.provisional,
        )

    # ----- percentile and success probability ------------------------------------------
    def percentile(self, intake: float, session: int, score: float) -> float:
        """Percentage (0-100) of reference clients with this intake doing worse at this session."""
        self._checked_intakes(intake)
        mean = float(intake + self.expected_change(intake, session))
        sd = float(self.predictive_sd(session))
        gain = self.direction * (float(score) - mean)
        if sd == 0.0:  # session 1: the score is the intake
            return 50.0 if gain == 0 else (100.0 if gain > 0 else 0.0)
        return float(100.0 * stats.norm.cdf(gain / sd))

    def success_probability(self, intake: float, scores: Sequence[tuple[int, float]]) -> float:
        """P(the episode ends with reliable improvement | intake, scores so far).

        ``scores`` are (session, total) pairs with sessions numbered from the intake (session 1,
        which is ignored if present).

        The episode's random effects are updated from its residuals (empirical Bayes with the
        fitted variance components), then the final change is projected to each possible final
        session, weighted by how often reference episodes that lasted at least this long ended there.
        """
        self._checked_intakes(intake)
        sessions, values = _observed_after_intake(scores)
        last_seen = int(sessions.max()) if sessions.size else 1
        mean_u, cov_u = self._posterior_random_effects(intake, sessions, values)
        threshold = self.reliable_change
        reachable = (
            intake + threshold <= self.score_max
            if self.higher_is_better
            else intake - threshold >= self.score_min
        )
        if not reachable:
            return 0.0
        finals = np.array(sorted(self.final_sessions), dtype=np.int64)
        weights = np.array([self.final_sessions[k] for k in finals])
        possible = (finals >= max(last_seen, 2)) & (weights > 0)
        if not possible.any():  # longer than any reference episode: project to the next session
            finals, weights = np.array([last_seen + 1]), np.array([1.0])
        else:
            finals, weights = finals[possible], weights[possible]
        p_final = self._improvement_probabilities(intake, finals, mean_u, cov_u)
        # If the episode ends at a session already seen, its final score is known.
        for index, final in enumerate(finals):
            seen = values[sessions == final]
            if seen.size:
                p_final[index] = float(self.direction * (seen[-1] - intake) >= threshold)
        return float(np.clip(np.dot(weights, p_final) / weights.sum(), 0.0, 1.0))

    def _posterior_random_effects(
        self, intake: float, sessions: npt.NDArray[np.int64], values: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        prior = self._random_effects_covariance()
        if sessions.size == 0:
            return np.zeros(2), prior
        log_k = np.log(sessions.astype(float))
        residuals = values - intake - self.expected_change(intake, sessions)
        design = np.column_stack([np.ones_like(log_k), log_k])
        # Covariance form (not G^-1) so that a variance component estimated at 0 is harmless.
        marginal = design @ prior @ design.T + self.parameters.var_residual * np.eye(log_k.size)
        gain = prior @ design.T @ np.linalg.inv(marginal)
        return gain @ residuals, prior - gain @ design @ prior

    def _improvement_probabilities(
        self,
        intake: float,
        finals: npt.NDArray[np.int64],
        mean_u: FloatArray,
        cov_u: FloatArray,
    ) -> FloatArray:
        """P(reliable improvement at each final session), given the posterior random effects."""
        design = np.column_stack([np.ones(finals.size), np.log(finals.astype(float))])
        mean = self.expected_change(intake, finals) + design @ mean_u
        variance = np.einsum("ij,jk,ik->i", design, cov_u, design) + self.parameters.var_residual
        margin = self.direction * mean - self.reliable_change
        return np.asarray(special.ndtr(margin / np.sqrt(variance)))

    def _random_effects_covariance(self) -> FloatArray:
        p = self.parameters
        return np.array(
            [[p.var_intercept, p.cov_intercept_slope], [p.cov_intercept_slope, p.var_slope]]
        )

    def _checked_intakes(self, intakes: npt.ArrayLike) -> FloatArray:
        values = np.asarray(intakes, dtype=float)
        outside = ~np.isfinite(values) | (values < self.score_min) | (values > self.score_max)
        if outside.any():
            bad = values[outside].ravel()[0]
            raise EtrError(
                f"intake must be between {self.score_min:g} and {self.score_max:g} "
                f"for {self.instrument.upper()}, not {bad:g}"
            )
        return values

    # ----- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        p = self.parameters
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "name": self.name,
            "instrument": self.instrument,
            "method": self.method,
            "parameters": {
                "slope_at_centre": p.slope_at_centre,
                "intake_slope": p.intake_slope,
                "intake_centre": p.intake_centre,
                "var_intercept": p.var_intercept,
                "cov_intercept_slope": p.cov_intercept_slope,
                "var_slope": p.var_slope,
                "var_residual": p.var_residual,
            },
            "percentiles": {
                "target": self.target_percentile,
                "negative": self.negative_percentile,
            },
            "score_range": [self.score_min, self.score_max],
            "higher_is_better": self.higher_is_better,
            "reliable_change": self.reliable_change,
            "final_sessions": {str(k): v for k, v in sorted(self.final_sessions.items())},
            "n_episodes": self.n_episodes,
            "n_administrations": self.n_administrations,
            "fitted_on": self.fitted_on,
            "provenance": self.provenance,
            "provisional": self.provisional,
            **({"extra": self.extra} if self.extra else {}),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


# ----- loading ---------------------------------------------------------------------------


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


# ----- fitting ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Longitudinal:
    """Scored administrations of one instrument, one row per (episode, session index)."""

    episode: npt.NDArray[np.int64]  # 0..n_episodes-1
    session: npt.NDArray[np.int64]  # 1 = the intake administration
    score: FloatArray
    intake: FloatArray  # the episode's intake, per row
    episode_ids: npt.NDArray[np.object_]
    last_session: npt.NDArray[np.int64]  # per episode
    closed: npt.NDArray[np.bool_]  # per episode


def longitudinal_scores(
    frame: pd.DataFrame, instrument: str = "ors", rater: str = "client"
) -> Longitudinal:
    """Rows of one instrument and rater, with the session counted from each episode's intake.

    Episodes whose first scored session is not session 1 still start at index 1: the ETR describes
    change since the first score. A repeated session number keeps its first row.
    """
    missing = [
        c
        for c in ("episode_id", "session_number", "instrument", "rater", "total")
        if c not in frame.columns
    ]
    if missing:
        raise EtrError("the table lacks column(s): " + ", ".join(missing))
    mask = (
        (frame["instrument"] == instrument) & (frame["rater"] == rater) & frame["total"].notna()
    ).to_numpy(dtype=bool)
    columns = ["episode_id", "session_number", "total"]
    has_ending = "ending" in frame.columns
    rows = frame.loc[mask, columns + (["ending"] if has_ending else [])]
    rows = rows.sort_values(["episode_id", "session_number"], kind="stable")
    rows = rows.drop_duplicates(["episode_id", "session_number"], keep="first")
    codes, episode_ids = pd.factorize(rows["episode_id"], sort=False)
    codes = codes.astype(np.int64)
    numbers = rows["session_number"].to_numpy(dtype=np.int64)
    scores = rows["total"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else codes
    first_number = numbers[starts][codes]
    session = numbers - first_number + 1
    last_session = np.zeros(len(episode_ids), dtype=np.int64)
    np.maximum.at(last_session, codes, session)
    if has_ending:
        ended = rows["ending"].notna().to_numpy(dtype=bool)
        closed = np.bincount(codes, weights=ended, minlength=len(episode_ids)) > 0
    else:  # without an ending column every episode is treated as finished
        closed = np.ones(len(episode_ids), dtype=bool)
    return Longitudinal(
        episode=codes,
        session=session,
        score=scores,
        intake=scores[starts][codes],
        episode_ids=np.asarray(episode_ids, dtype=object),
        last_session=last_session,
        closed=closed,
    )


def fit(
    frame: pd.DataFrame,
    instrument: str = "ors",
    rater: str = "client",
    *,
    negative_percentile: float = 25.0,
    min_episodes: int = DEFAULT_MIN_EPISODES,
    name: str | None = None,
    provenance: str | None = None,
    provisional: bool = False,
    score_range: tuple[float, float] | None = None,
    reliable_change: float | None = None,
    higher_is_better: bool | None = None,
) -> EtrModel:
    """Fit an ETR model on the closed episodes (with >= 2 scores) of an administrations table.

    The instrument's range, direction and reliable change come from its definition unless given.
    """
    if not 0.0 < negative_percentile < 50.0:
        raise EtrError(
            f"the negative percentile must be between 0 and 50, not {negative_percentile:g}"
        )
    scale = _scale(instrument, score_range, reliable_change, higher_is_better)
    data = _usable_episodes(longitudinal_scores(frame, instrument, rater))
    n_episodes = int(data.last_session.size)
    if n_episodes < min_episodes:
        raise EtrError(
            f"too little data to fit an ETR: {n_episodes} closed {instrument.upper()} episode(s) "
            f"with 2 or more scores, at least {min_episodes} needed"
        )
    parameters = _fit_parameters(data)
    finals = np.bincount(data.last_session)
    final_sessions = {int(k): float(c) / n_episodes for k, c in enumerate(finals) if c > 0}
    today = dt.date.today().isoformat()
    return EtrModel(
        name=name or f"{instrument.lower()}-etr-{today}",
        instrument=instrument.lower(),
        parameters=parameters,
        score_min=scale[0],
        score_max=scale[1],
        higher_is_better=scale[2],
        reliable_change=scale[3],
        final_sessions=final_sessions,
        n_episodes=n_episodes,
        n_administrations=int(data.score.size),
        fitted_on=today,
        provenance=provenance
        or f"Fitted on {n_episodes} closed episodes ({data.score.size} administrations) on {today}.",
        provisional=provisional,
        negative_percentile=float(negative_percentile),
    )


def _scale(
    instrument: str,
    score_range: tuple[float, float] | None,
    reliable_change: float | None,
    higher_is_better: bool | None,
) -> tuple[float, float, bool, float]:
    if score_range is None or reliable_change is None or higher_is_better is None:
        definition = _instrument_definition(instrument)
        score_range = score_range or (float(definition.total_min), float(definition.total_max))
        if higher_is_better is None:
            higher_is_better = bool(definition.higher_is_better)
        if reliable_change is None:
            if definition.reliable_change is None:
                raise EtrError(f"instrument {instrument!r} defines no reliable change; give one")
            reliable_change = float(definition.reliable_change)
    if not score_range[0] < score_range[1]:
        raise EtrError(f"score range must be (minimum, maximum), not {score_range!r}")
    if not reliable_change > 0:
        raise EtrError(f"reliable change must be above 0, not {reliable_change!r}")
    return float(score_range[0]), float(score_range[1]), bool(higher_is_better), reliable_change


def _instrument_definition(instrument: str) -> Any:
    try:
        from alliance.science.instruments import get_instrument
    except ImportError as error:  # pragma: no cover - the instruments module ships with the package
        raise EtrError("instrument definitions are not available") from error
    try:
        return get_instrument(instrument)
    except ValueError as error:  # the instruments module's message lists the known codes
        raise EtrError(str(error)) from error


def _usable_episodes(data: Longitudinal) -> Longitudinal:
    keep_episode = data.closed & (data.last_session >= 2)
    keep_row = keep_episode[data.episode]
    new_codes = np.cumsum(keep_episode) - 1
    return Longitudinal(
        episode=new_codes[data.episode[keep_row]],
        session=data.session[keep_row],
        score=data.score[keep_row],
        intake=data.intake[keep_row],
        episode_ids=data.episode_ids[keep_episode],
        last_session=data.last_session[keep_episode],
        closed=data.closed[keep_episode],
    )


def _fit_parameters(data: Longitudinal) -> EtrParameters:
    later = data.session >= 2
    episode = data.episode[later]
    log_k = np.log(data.session[later].astype(float))
    intake = data.intake[later]
    change = data.score[later] - intake
    centre = float(np.mean(data.intake[data.session == 1]))
    design = np.column_stack([log_k, log_k * (intake - centre)])
    coefficients, *_ = np.linalg.lstsq(design, change, rcond=None)
    residuals = change - design @ coefficients
    g11, g12, g22 = _random_effect_moments(episode, log_k, residuals)
    random_part = g11 + 2.0 * g12 * log_k + g22 * log_k**2
    var_residual = max(float(np.mean(residuals**2 - random_part)), 1e-6)
    return EtrParameters(
        slope_at_centre=float(coefficients[0]),
        intake_slope=float(coefficients[1]),
        intake_centre=centre,
        var_intercept=g11,
        cov_intercept_slope=g12,
        var_slope=g22,
        var_residual=var_residual,
    )


def _random_effect_moments(
    episode: npt.NDArray[np.int64], log_k: FloatArray, residuals: FloatArray
) -> tuple[float, float, float]:
    """Covariance (G11, G12, G22) of the random intercept and slope from residual cross-products.

    For two different sessions j, k of one episode E[r_j r_k] = G11 + G12 (l_j + l_k) + G22 l_j l_k,
    so G is the least-squares fit of all within-episode products on (1, l_j + l_k, l_j l_k). Every
    sum over pairs follows from per-episode sums, so no pair is ever formed. Each episode's pairs
    are weighted by 1 / (n - 1), giving long episodes weight in proportion to their length, not
    its square.
    """

    def per_episode(values: FloatArray) -> FloatArray:
        return np.bincount(episode, weights=values)

    r, lk = residuals, log_k
    n = per_episode(np.ones_like(lk))
    s_l, s_l2, s_l3, s_l4 = (per_episode(lk**p) for p in (1, 2, 3, 4))
    s_r, s_r2, s_rl = per_episode(r), per_episode(r**2), per_episode(r * lk)
    s_r2l, s_r2l2 = per_episode(r**2 * lk), per_episode(r**2 * lk**2)
    weight = np.where(n > 1, 1.0 / np.maximum(n - 1.0, 1.0), 0.0)
    # Sums over ordered pairs j != k within each episode.
    x_one = n * n - n
    x_sum = 2.0 * (n - 1.0) * s_l
    x_prod = s_l**2 - s_l2
    xx = np.array(
        [
            [x_one, x_sum, x_prod],
            [x_sum, 2.0 * (n - 1.0) * s_l2 + 2.0 * x_prod, 2.0 * (s_l2 * s_l - s_l3)],
            [x_prod, 2.0 * (s_l2 * s_l - s_l3), s_l2**2 - s_l4],
        ]
    )
    xy = np.array([s_r**2 - s_r2, 2.0 * (s_rl * s_r - s_r2l), s_rl**2 - s_r2l2])
    lhs = (xx * weight).sum(axis=-1)
    rhs = (xy * weight).sum(axis=-1)
    solution = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    covariance = np.array([[solution[0], solution[1]], [solution[1], solution[2]]])
    # Moment estimates can fall outside the valid region; keep the nearest valid covariance.
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    valid = eigenvectors @ np.diag(np.maximum(eigenvalues, 0.0)) @ eigenvectors.T
    return float(valid[0, 0]), float(valid[0, 1]), float(valid[1, 1])


# ----- calibration -----------------------------------------------------------------------


def calibrate(
    frame: pd.DataFrame,
    model: EtrModel,
    *,
    rater: str = "client",
    at_session: int = 3,
    signal_sessions: tuple[int, int] = (3, 4),
    bins: int = 10,
) -> dict[str, Any]:
    """Check a model on held-out closed episodes.

    ``success``: the success probability computed from the scores up to ``at_session`` (episodes
    that went on beyond it), grouped by decile of prediction, against the observed rate of
    reliable improvement at the last score; plus Brier score and AUC.
    ``red_signal``: an episode is red when a score at sessions 3-4 (``signal_sessions``) is below
    the negative line; a poor outcome is a final change short of reliable improvement. Only
    episodes with a score in that window that went on beyond it count. Reports sensitivity,
    specificity and the AUC of red and of the lowest percentile in the window.
    """
    data = _usable_episodes(longitudinal_scores(frame, model.instrument, rater))
    if data.last_session.size == 0:
        raise EtrError(f"no closed {model.instrument.upper()} episodes with 2 or more scores")
    improved = _reliably_improved(data, model)
    success = _success_calibration(data, model, improved, at_session, bins)
    red = _red_signal_calibration(data, model, improved, signal_sessions)
    return {
        "model": model.name,
        "provisional": model.provisional,
        "instrument": model.instrument,
        "n_episodes": int(data.last_session.size),
        "poor_outcome": "final change short of reliable improvement "
        f"({model.reliable_change:g} points)",
        "success": success,
        "red_signal": red,
    }


def _reliably_improved(data: Longitudinal, model: EtrModel) -> npt.NDArray[np.bool_]:
    is_last = data.session == data.last_session[data.episode]
    final = np.empty(data.last_session.size)
    final[data.episode[is_last]] = data.score[is_last]
    intake = np.empty(data.last_session.size)
    first = data.session == 1
    intake[data.episode[first]] = data.score[first]
    return np.asarray(model.direction * (final - intake) >= model.reliable_change)


def _success_calibration(
    data: Longitudinal,
    model: EtrModel,
    improved: npt.NDArray[np.bool_],
    at_session: int,
    bins: int,
) -> dict[str, Any]:
    eligible = np.flatnonzero(data.last_session >= at_session)
    if eligible.size == 0:
        return {"n": 0, "at_session": at_session, "deciles": []}
    early = data.session <= at_session
    by_episode = _group_rows(data.episode[early], data.session[early], data.score[early])
    predicted = np.array(
        [
            model.success_probability(float(by_episode[e][1][0]), _pairs(by_episode[e]))
            for e in eligible.tolist()
        ]
    )
    observed = improved[eligible].astype(float)
    return {
        "n": int(eligible.size),
        "at_session": at_session,
        "mean_predicted": float(predicted.mean()),
        "observed_rate": float(observed.mean()),
        "brier": float(np.mean((predicted - observed) ** 2)),
        "auc": auc(predicted, observed.astype(bool)),
        "deciles": calibration_table(predicted, observed.astype(bool), bins),
    }


def _red_signal_calibration(
    data: Longitudinal,
    model: EtrModel,
    improved: npt.NDArray[np.bool_],
    window: tuple[int, int],
) -> dict[str, Any]:
    low, high = window
    in_window = (data.session >= low) & (data.session <= high)
    in_window &= data.last_session[data.episode] > high
    episode = data.episode[in_window]
    pct = _row_percentiles(model, data.intake[in_window], data.session[in_window])(
        data.score[in_window]
    )
    n_episodes = data.last_session.size
    lowest = np.full(n_episodes, np.inf)
    np.minimum.at(lowest, episode, pct)
    counted = np.isfinite(lowest)
    red = lowest[counted] < model.negative_percentile
    poor = ~improved[counted]
    sensitivity, specificity = sensitivity_specificity(red, poor)
    return {
        "sessions": [low, high],
        "n": int(counted.sum()),
        "n_poor": int(poor.sum()),
        "n_red": int(red.sum()),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "auc_red": auc(red.astype(float), poor),
        "auc_percentile": auc(-lowest[counted], poor),
    }


def _row_percentiles(model: EtrModel, intake: FloatArray, session: npt.NDArray[np.int64]) -> Any:
    mean = intake + model.expected_change(intake, session)
    sd = model.predictive_sd(session)

    def percentiles(score: FloatArray) -> FloatArray:
        safe_sd = np.where(sd > 0, sd, 1.0)
        return np.asarray(100.0 * stats.norm.cdf(model.direction * (score - mean) / safe_sd))

    return percentiles


def _group_rows(
    episode: npt.NDArray[np.int64], session: npt.NDArray[np.int64], score: FloatArray
) -> dict[int, tuple[npt.NDArray[np.int64], FloatArray]]:
    order = np.argsort(episode, kind="stable")
    episode, session, score = episode[order], session[order], score[order]
    bounds = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1], True])
    return {
        int(episode[a]): (session[a:b], score[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    }


def _pairs(rows: tuple[npt.NDArray[np.int64], FloatArray]) -> list[tuple[int, float]]:
    return [(int(k), float(y)) for k, y in zip(rows[0], rows[1], strict=True) if k >= 2]


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    None when there are no positives or no negatives (the AUC is undefined).
    """
    values = np.asarray(scores, dtype=float)
    positive = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = stats.rankdata(values)  # average ranks handle ties (Mann-Whitney U)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def sensitivity_specificity(
    flagged: npt.ArrayLike, positive: npt.ArrayLike
) -> tuple[float | None, float | None]:
    """(P(flagged | positive), P(not flagged | negative)); None where undefined."""
    flag = np.asarray(flagged, dtype=bool)
    truth = np.asarray(positive, dtype=bool)
    sensitivity = float(flag[truth].mean()) if truth.any() else None
    specificity = float((~flag[~truth]).mean()) if (~truth).any() else None
    return sensitivity, specificity


def calibration_table(
    predicted: npt.ArrayLike, observed: npt.ArrayLike, bins: int = 10
) -> list[dict[str, float | int]]:
    """Predicted vs observed by quantile group (deciles by default) of the prediction."""
    p = np.asarray(predicted, dtype=float)
    o = np.asarray(observed, dtype=float)
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, p.size))
    return [
        {
            "group": i + 1,
            "n": int(g.size),
            "mean_predicted": float(p[g].mean()),
            "observed_rate": float(o[g].mean()),
        }
        for i, g in enumerate(groups)
        if g.size
    ]


def _observed_after_intake(
    scores: Sequence[tuple[int, float]],
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    sessions: list[int] = []
    values: list[float] = []
    for session, score in scores:
        if int(session) != session or session < 1:
            raise EtrError(f"session numbers must be whole numbers >= 1, not {session!r}")
        if not math.isfinite(float(score)):
            raise EtrError(f"scores must be finite numbers, not {score!r}")
        if session >= 2:  # session 1 is the intake itself
            sessions.append(int(session))
            values.append(float(score))
    return np.asarray(sessions, dtype=np.int64), np.asarray(values, dtype=float)


def _log_sessions(sessions: npt.ArrayLike) -> FloatArray:
    numbers = np.asarray(sessions, dtype=float)
    if (numbers < 1).any() or not np.isfinite(numbers).all():
        raise EtrError("session numbers must be 1 or more")
    return np.log(numbers)
