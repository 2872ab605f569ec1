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

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from alliance.science.instruments.model import direction

METHOD = "ols-log-session-intake-moments-v1"

FloatArray = npt.NDArray[np.float64]


class EtrError(ValueError):
    """Bad input to the ETR functions; the message says what is wrong."""


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
        return direction(self.higher_is_better)

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
        # The normal quantile (scipy.stats.norm.ppf is this function; scipy.stats is slow to import).
        z = self.direction * special.ndtri(percentile / 100.0)
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
        return float(self._percentiles(intake, session, score))

    def _percentiles(
        self, intakes: npt.ArrayLike, sessions: npt.ArrayLike, scores: npt.ArrayLike
    ) -> FloatArray:
        """``percentile`` elementwise, without the intake check (calibration has its own rows)."""
        intake = np.asarray(intakes, dtype=float)
        mean = intake + self.expected_change(intake, sessions)
        sd = self.predictive_sd(sessions)
        gain = self.direction * (np.asarray(scores, dtype=float) - mean)
        at_intake = 50.0 * (np.sign(gain) + 1.0)  # session 1: the score is the intake
        spread = 100.0 * special.ndtr(gain / np.where(sd > 0, sd, 1.0))
        return np.asarray(np.where(sd > 0, spread, at_intake), dtype=float)

    def success_probability(
        self, intake: float, scores: Sequence[tuple[int, float]], *, going_on: bool = False
    ) -> float:
        """P(the episode ends with reliable improvement | intake, scores so far).

        ``going_on``: the episode is known to continue beyond its last score (as in a calibration
        on episodes that went on), so it cannot end at a session already seen.

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
        earliest = last_seen + 1 if going_on else max(last_seen, 2)
        possible = (finals >= earliest) & (weights > 0)
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

    # ----- persistence (reading and validating files lives in etr.io) ---------------------
    def to_dict(self) -> dict[str, Any]:
        return model_to_dict(self)

    def save(self, path: str | os.PathLike[str]) -> None:
        save_model(self, path)


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


# The file format is written here, beside the model, and read (with validation) in etr.io, so
# that io depends on model and never the reverse.
MODEL_FORMAT = "alliance-etr"
MODEL_VERSION = 1


def model_to_dict(model: EtrModel) -> dict[str, Any]:
    """The model as the JSON object ``load_model`` reads (``EtrModel.to_dict``)."""
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "name": model.name,
        "instrument": model.instrument,
        "method": model.method,
        "parameters": asdict(model.parameters),
        "percentiles": {
            "target": model.target_percentile,
            "negative": model.negative_percentile,
        },
        "score_range": [model.score_min, model.score_max],
        "higher_is_better": model.higher_is_better,
        "reliable_change": model.reliable_change,
        "final_sessions": {str(k): v for k, v in sorted(model.final_sessions.items())},
        "n_episodes": model.n_episodes,
        "n_administrations": model.n_administrations,
        "fitted_on": model.fitted_on,
        "provenance": model.provenance,
        "provisional": model.provisional,
        **({"extra": model.extra} if model.extra else {}),
    }


def save_model(model: EtrModel, path: str | os.PathLike[str]) -> None:
    """Write the model file (``EtrModel.save``)."""
    Path(path).write_text(json.dumps(model_to_dict(model), indent=2) + "\n", encoding="utf-8")
