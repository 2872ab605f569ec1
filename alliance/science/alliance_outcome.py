"""Alliance-outcome decomposition: is it the therapist's alliances, or the client's, that matter?

Baldwin, Wampold & Imel (2007) split the alliance into a between-therapist part (the therapist's
mean alliance over their caseload) and a within-therapist part (the client's deviation from that
mean) and found that only the therapist part predicted outcome; Del Re et al. (2012, 2021)
confirmed it meta-analytically. The model, one row per (closed) episode:

    outcome_i = b0 + b1 * intake_i + bB * (A_t - A) + bW * (a_i - A_t) + u_t + e_i

with a_i the client's early alliance (mean of the first k SRS that precede the final outcome
score), A_t the mean of a_i over therapist t's episodes, A the grand mean, u_t ~ N(0, tau^2) a
random therapist intercept and e_i ~ N(0, sigma^2); fitted by REML with statsmodels MixedLM.
``outcome`` is the final score or the change (final - intake); with intake in the model both give
the same alliance slopes. The contextual effect bB - bW says how much more a therapist-level
alliance point is worth than a client-level one.

Direction: slopes are in outcome points per alliance point as the instrument scores them; for an
instrument where lower is better (PHQ-9) a negative slope means better outcomes, and the reading
says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from alliance.science.alliance_episodes import (
    DEFAULT_FIRST_K,
    AllianceDataError,
    alliance_episodes,
    closed,
    higher_is_better,
)

Z_95 = 1.959963984540054
MIN_THERAPISTS = 3
MIN_EPISODES = 10
OUTCOMES = ("final", "change")


@dataclass(frozen=True)
class Slope:
    estimate: float
    low: float
    high: float
    p_value: float

    @property
    def reliable(self) -> bool:
        """The 95% interval excludes 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float | None]:
        return {
            "estimate": _finite(self.estimate),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "p_value": _finite(self.p_value),
        }


@dataclass(frozen=True)
class Decomposition:
    instrument: str
    alliance_instrument: str
    outcome: str
    first_k: int
    between: Slope
    within: Slope
    contextual: Slope
    intake: Slope
    var_therapist: float
    var_residual: float
    n_episodes: int
    n_therapists: int
    n_single_client_therapists: int
    n_excluded: dict[str, int]
    mean_alliance: float
    sd_therapist_alliance: float
    higher_is_better: bool
    converged: bool
    reading: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "alliance_instrument": self.alliance_instrument,
            "outcome": self.outcome,
            "first_k": self.first_k,
            "model": (
                f"{self.outcome} ~ intake + therapist mean alliance (between) + client deviation "
                "(within) + random therapist intercept; statsmodels MixedLM, REML"
            ),
            "between": self.between.to_dict(),
            "within": self.within.to_dict(),
            "contextual": self.contextual.to_dict(),
            "intake": self.intake.to_dict(),
            "var_therapist": _finite(self.var_therapist),
            "var_residual": _finite(self.var_residual),
            "n_episodes": self.n_episodes,
            "n_therapists": self.n_therapists,
            "n_single_client_therapists": self.n_single_client_therapists,
            "excluded": dict(self.n_excluded),
            "mean_alliance": _finite(self.mean_alliance),
            "sd_therapist_alliance": _finite(self.sd_therapist_alliance),
            "higher_is_better": self.higher_is_better,
            "converged": self.converged,
            "reading": list(self.reading),
        }


def alliance_outcome(
    frame: pd.DataFrame,
    *,
    instrument: str = "ors",
    alliance_instrument: str = "srs",
    rater: str = "client",
    first_k: int = DEFAULT_FIRST_K,
    outcome: str = "final",
    closed_only: bool = True,
    by: str | None = None,
) -> dict[str, Any]:
    """The decomposition over the whole table and, with ``by``, per group (e.g. ``team_id``).

    A group too small to fit is reported with its ``error`` instead of numbers.
    """
    episodes = alliance_episodes(
        frame,
        instrument=instrument,
        alliance_instrument=alliance_instrument,
        rater=rater,
        first_k=first_k,
    )
    fit = partial(
        decompose,
        instrument=instrument,
        alliance_instrument=alliance_instrument,
        outcome=outcome,
        first_k=first_k,
        closed_only=closed_only,
    )
    result: dict[str, Any] = {"overall": fit(episodes).to_dict()}
    if by is not None:
        if by not in episodes.columns:
            raise AllianceDataError(f"the table has no column {by!r} to group by")
        groups: dict[str, Any] = {}
        for label, part in episodes.groupby(episodes[by].astype("string"), sort=True):
            try:
                groups[str(label)] = fit(part).to_dict()
            except AllianceDataError as error:
                groups[str(label)] = {"error": str(error), "n_episodes": len(part)}
        result["groups"] = groups
    return result


def decompose(
    episodes: pd.DataFrame,
    *,
    instrument: str = "ors",
    alliance_instrument: str = "srs",
    outcome: str = "final",
    first_k: int = DEFAULT_FIRST_K,
    closed_only: bool = True,
) -> Decomposition:
    """Fit the model on ``alliance_episodes`` output (one row per episode)."""
    if outcome not in OUTCOMES:
        raise AllianceDataError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    data, excluded = _usable(episodes, closed_only)
    data = data.assign(y=data["final"] if outcome == "final" else data["change"])
    therapist_mean = data.groupby("therapist_id")["early_alliance"].transform("mean")
    grand_mean = float(data["early_alliance"].mean())
    data = data.assign(
        between=therapist_mean - grand_mean, within=data["early_alliance"] - therapist_mean
    )
    per_therapist = data.groupby("therapist_id")["early_alliance"].agg(["mean", "size"])
    if not per_therapist["mean"].std(ddof=1) > 0:
        raise AllianceDataError(
            "every therapist has the same mean alliance: the between-therapist slope is undefined"
        )
    fit, converged = _fit(data)
    better = higher_is_better(instrument)
    slopes = {name: _slope(fit, name) for name in ("between", "within", "intake")}
    contextual = _difference(fit, "between", "within")
    decomposition = Decomposition(
        instrument=instrument,
        alliance_instrument=alliance_instrument,
        outcome=outcome,
        first_k=first_k,
        between=slopes["between"],
        within=slopes["within"],
        contextual=contextual,
        intake=slopes["intake"],
        var_therapist=float(fit.cov_re.iloc[0, 0]),
        var_residual=float(fit.scale),
        n_episodes=len(data),
        n_therapists=len(per_therapist),
        n_single_client_therapists=int((per_therapist["size"] == 1).sum()),
        n_excluded=excluded,
        mean_alliance=grand_mean,
        sd_therapist_alliance=float(per_therapist["mean"].std(ddof=1)),
        higher_is_better=better,
        converged=converged,
    )
    return _with_reading(decomposition)


def _usable(episodes: pd.DataFrame, closed_only: bool) -> tuple[pd.DataFrame, dict[str, int]]:
    excluded: dict[str, int] = {}
    data = closed(episodes) if closed_only else episodes
    excluded["open"] = len(episodes) - len(data)
    enough = data["n_scores"] >= 2
    excluded["fewer_than_two_outcome_scores"] = int((~enough).sum())
    data = data[enough]
    rated = data["early_alliance"].notna()
    excluded["no_alliance_before_final"] = int((~rated).sum())
    data = data[rated]
    therapists = data["therapist_id"].nunique()
    if len(data) < MIN_EPISODES or therapists < MIN_THERAPISTS:
        raise AllianceDataError(
            f"not enough data: {len(data)} usable episodes from {therapists} therapists "
            f"(need at least {MIN_EPISODES} episodes and {MIN_THERAPISTS} therapists with an "
            "alliance rating before the final outcome score"
            + (", closed episodes only" if closed_only else "")
            + ")"
        )
    return data[["therapist_id", "intake", "final", "change", "early_alliance"]].copy(), excluded


# statsmodels' default (L-BFGS) stops at a degenerate point on these models (random-intercept
# variance 0, infinite log-likelihood, singular covariance) and still reports convergence; Powell's
# derivative-free search does not, and Nelder-Mead is the fallback when Powell fails.
_METHODS = ("powell", "nm")


def _fit(data: pd.DataFrame) -> tuple[Any, bool]:
    model = smf.mixedlm("y ~ intake + between + within", data, groups=data["therapist_id"])
    for method in _METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
        if fit.converged and np.all(np.isfinite(fit.bse_fe)) and math.isfinite(fit.llf):
            return fit, True
    raise AllianceDataError(
        "the mixed model could not be fitted to these data: check that therapists differ in "
        "their alliance and that intake varies"
    )


def _slope(fit: Any, name: str) -> Slope:
    estimate = float(fit.fe_params[name])
    se = float(fit.bse_fe[name])
    return _normal_slope(estimate, se)


def _difference(fit: Any, first: str, second: str) -> Slope:
    covariance = fit.cov_params()
    estimate = float(fit.fe_params[first] - fit.fe_params[second])
    variance = (
        covariance.loc[first, first]
        + covariance.loc[second, second]
        - 2 * covariance.loc[first, second]
    )
    return _normal_slope(estimate, math.sqrt(max(float(variance), 0.0)))


def _normal_slope(estimate: float, se: float) -> Slope:
    if not (math.isfinite(se) and se > 0):
        return Slope(estimate, math.nan, math.nan, math.nan)
    z = estimate / se
    p = math.erfc(abs(z) / math.sqrt(2))
    return Slope(estimate, estimate - Z_95 * se, estimate + Z_95 * se, p)


def _with_reading(d: Decomposition) -> Decomposition:
    scale = d.alliance_instrument.upper()
    measure = f"{d.instrument.upper()} {'final score' if d.outcome == 'final' else 'change'}"
    sign = 1.0 if d.higher_is_better else -1.0
    reading = [
        _sentence(
            d.between,
            sign,
            "Therapists who form stronger alliances have better outcomes",
            "Therapists who form stronger alliances have worse outcomes",
            "No reliable difference in outcome between therapists with stronger and weaker "
            "alliances",
            f"points of {measure} per {scale} point of the therapist's mean alliance",
        ),
        _sentence(
            d.within,
            sign,
            "Within a therapist's caseload, clients who rate the alliance above that "
            "therapist's average do better",
            "Within a therapist's caseload, clients who rate the alliance above that "
            "therapist's average do worse",
            "Within a therapist's caseload, a client's alliance above or below that therapist's "
            "average makes no reliable difference",
            f"points per {scale} point of the client's deviation",
        ),
        f"Based on {d.n_episodes} episodes of {d.n_therapists} therapists, alliance = mean of "
        f"the first {d.first_k} {scale} ratings before the final {d.instrument.upper()} score; "
        "slopes adjusted for intake.",
    ]
    return Decomposition(**{**d.__dict__, "reading": reading})


def _sentence(slope: Slope, sign: float, better: str, worse: str, neither: str, unit: str) -> str:
    interval = f"95% CI {slope.low:+.2f} to {slope.high:+.2f}"
    if not slope.reliable:
        return f"{neither} ({slope.estimate:+.2f} {unit}, {interval})."
    lead = better if sign * slope.estimate > 0 else worse
    return f"{lead}: {slope.estimate:+.2f} {unit} ({interval})."


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


__all__ = [
    "AllianceDataError",
    "Decomposition",
    "Slope",
    "alliance_outcome",
    "decompose",
]
