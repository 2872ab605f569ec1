"""Therapist effects: ICC with a profile-likelihood interval and shrunken per-therapist estimates.

Model (episode level, one row per closed episode with >= 2 scores):

    final_i = b0 + b1 * intake_i + u_therapist(i) + e_i,   u ~ N(0, tau^2),  e ~ N(0, sigma^2)

i.e. a linear mixed model with a random intercept per therapist and intake as covariate (the same
variance components as for change = final - intake). It is fitted by REML, written in closed form
for this one-random-intercept case: with gamma = tau^2 / sigma^2 every quantity is a sum over
therapists, so the REML log-likelihood profiled over sigma^2 is a cheap function of gamma alone.
That gives (a) the REML estimate (the same as statsmodels MixedLM, which the tests check), and
(b) a 95% profile-likelihood interval for gamma, hence for ICC = gamma / (1 + gamma), which respects
the boundary at 0 and needs no bootstrap. docs/etr.md explains the choice.

Per therapist the BLUP is shrinkage * (mean residual of the caseload) with
shrinkage = tau^2 / (tau^2 + sigma^2 / n); its 95% interval uses the conditional variance
tau^2 * (1 - shrinkage). A therapist is "above" or "below" average only when that interval
excludes 0; otherwise "average". The table is sorted by therapist id, never by rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, stats

from alliance.science.instruments.model import direction
from alliance.science.intervals import CONFIDENCE, normal_interval
from alliance.science.table import episode_outcomes

FloatArray = npt.NDArray[np.float64]
_LOG_GAMMA_BOUNDS = (-25.0, 8.0)


class TherapistEffectsError(ValueError):
    """The data cannot support a therapist-effects analysis; the message says why."""


@dataclass(frozen=True)
class TherapistEffects:
    instrument: str
    icc: float
    icc_low: float
    icc_high: float
    var_therapist: float
    var_residual: float
    intercept: float
    intake_coefficient: float
    n_episodes: int
    n_therapists: int
    higher_is_better: bool
    per_therapist: pd.DataFrame  # therapist_id, n_episodes, mean_intake, mean_change, effect, ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "outcome": "final score adjusted for intake (random intercept per therapist, REML)",
            "n_episodes": self.n_episodes,
            "n_therapists": self.n_therapists,
            "icc": self.icc,
            "icc_interval": [self.icc_low, self.icc_high],
            "var_therapist": self.var_therapist,
            "var_residual": self.var_residual,
            "intercept": self.intercept,
            "intake_coefficient": self.intake_coefficient,
            "effect_direction": "positive = better outcomes than average "
            + ("(higher scores)" if self.higher_is_better else "(lower scores)"),
            "therapists": [
                {key: _plain(value) for key, value in row.items()}
                for row in self.per_therapist.to_dict(orient="records")
            ],
        }


@dataclass(frozen=True)
class _GroupSums:
    """Per-therapist sums for the design (1, intake) and the outcome."""

    n: FloatArray
    sx: FloatArray
    sxx: FloatArray
    sy: FloatArray
    sxy: FloatArray
    syy: FloatArray

    @property
    def total(self) -> int:
        return int(self.n.sum())


def therapist_effects(
    data: pd.DataFrame,
    instrument: str = "ors",
    rater: str = "client",
    *,
    closed_only: bool = True,
    higher_is_better: bool | None = None,
) -> TherapistEffects:
    """ICC and shrunken therapist estimates from an administrations table or episode outcomes.

    ``data`` is either the administrations table or the output of ``episode_outcomes`` (columns
    therapist_id, intake, final, n_scores). Only episodes with >= 2 scores count, and, when the
    data say which episodes ended, only closed ones (unless ``closed_only`` is False).
    """
    if higher_is_better is None:
        higher_is_better = _higher_is_better(instrument)
    episodes = _episodes(data, instrument, rater, closed_only)
    _check_design(episodes, f"{instrument.upper()} ({rater})")
    codes, therapist_ids = pd.factorize(episodes["therapist_id"], sort=True)
    intake, final = episodes["intake"].to_numpy(float), episodes["final"].to_numpy(float)
    # Floating-point sums depend on their order, and a flat likelihood turns that last-bit noise
    # into differences of 1e-6 in the ICC. Summing in an order fixed by the data alone (rows by
    # value within each therapist, therapists by their sums) gives the same answer whatever the
    # row order or the therapists' ids.
    rows = np.lexsort((final, intake, codes))
    sums = _group_sums(codes[rows], intake[rows], final[rows])
    canonical = _canonical(sums)
    gamma = _reml_gamma(canonical)
    beta, sigma2 = _gls(canonical, gamma)
    low, high = _profile_interval(canonical, gamma)
    table = _per_therapist(episodes, codes, therapist_ids, sums, gamma, beta, sigma2)
    table = _labelled(table, direction(higher_is_better))
    return TherapistEffects(
        instrument=instrument,
        icc=gamma / (1.0 + gamma),
        icc_low=low / (1.0 + low),
        icc_high=high / (1.0 + high),
        var_therapist=gamma * sigma2,
        var_residual=sigma2,
        intercept=float(beta[0]),
        intake_coefficient=float(beta[1]),
        n_episodes=len(episodes),
        n_therapists=len(therapist_ids),
        higher_is_better=bool(higher_is_better),
        per_therapist=table,
    )


def shrinkage_factor(var_therapist: float, var_residual: float, n: npt.ArrayLike) -> FloatArray:
    """tau^2 / (tau^2 + sigma^2 / n): the weight a caseload of n gets against the average (0)."""
    caseload = np.asarray(n, dtype=float)
    return np.asarray(var_therapist / (var_therapist + var_residual / caseload))


def _episodes(data: pd.DataFrame, instrument: str, rater: str, closed_only: bool) -> pd.DataFrame:
    if {"intake", "final", "therapist_id"}.issubset(data.columns):
        episodes = data
    elif "total" in data.columns:
        episodes = episode_outcomes(data, instrument=instrument, rater=rater)
    else:
        raise TherapistEffectsError(
            "expected an administrations table or episode outcomes "
            "(columns therapist_id, intake, final)"
        )
    keep = episodes["intake"].notna() & episodes["final"].notna()
    if "n_scores" in episodes.columns:
        keep &= episodes["n_scores"] >= 2
    if closed_only and "ending" in episodes.columns:
        keep &= episodes["ending"].notna()
    return episodes.loc[keep].copy()


def _check_design(episodes: pd.DataFrame, what: str) -> None:
    if episodes.empty:
        raise TherapistEffectsError(f"no closed {what} episodes with 2 or more scores")
    caseloads = episodes.groupby("therapist_id", observed=True).size()
    if len(caseloads) < 2:
        raise TherapistEffectsError(
            f"therapist effects need at least 2 therapists; the data have {len(caseloads)}"
        )
    if (caseloads >= 2).sum() == 0:
        raise TherapistEffectsError(
            "every therapist has only one episode: therapist and client differences "
            "cannot be told apart"
        )
    if len(episodes) <= len(caseloads) + 2:
        raise TherapistEffectsError(
            f"too few episodes ({len(episodes)}) for {len(caseloads)} therapists"
        )


def _higher_is_better(instrument: str) -> bool:
    from alliance.science.instruments import get_instrument

    try:
        return bool(get_instrument(instrument).higher_is_better)
    except ValueError as error:  # the instruments module's message lists the known codes
        raise TherapistEffectsError(str(error)) from error


def _group_sums(codes: npt.NDArray[np.intp], x: FloatArray, y: FloatArray) -> _GroupSums:
    def total(values: FloatArray) -> FloatArray:
        return np.bincount(codes, weights=values)

    return _GroupSums(
        n=total(np.ones_like(x)),
        sx=total(x),
        sxx=total(x * x),
        sy=total(y),
        sxy=total(x * y),
        syy=total(y * y),
    )


def _canonical(sums: _GroupSums) -> _GroupSums:
    """The same sums with the therapists in an order set by the sums themselves (not the ids)."""
    order = np.lexsort((sums.syy, sums.sxy, sums.sy, sums.sxx, sums.sx, sums.n))
    return _GroupSums(**{part.name: getattr(sums, part.name)[order] for part in fields(sums)})


def _gls_parts(sums: _GroupSums, gamma: float) -> tuple[FloatArray, FloatArray, float]:
    """X'H^-1 X, X'H^-1 y and y'H^-1 y with H = I + gamma J per therapist (V = sigma^2 H)."""
    c = gamma / (1.0 + sums.n * gamma)
    a = np.array(
        [
            [np.sum(sums.n - c * sums.n**2), np.sum(sums.sx - c * sums.n * sums.sx)],
            [np.sum(sums.sx - c * sums.n * sums.sx), np.sum(sums.sxx - c * sums.sx**2)],
        ]
    )
    b = np.array([np.sum(sums.sy - c * sums.n * sums.sy), np.sum(sums.sxy - c * sums.sx * sums.sy)])
    yy = float(np.sum(sums.syy - c * sums.sy**2))
    return a, b, yy


def _gls(sums: _GroupSums, gamma: float) -> tuple[FloatArray, float]:
    a, b, yy = _gls_parts(sums, gamma)
    beta = np.linalg.solve(a, b)
    rss = yy - float(b @ beta)
    return beta, rss / (sums.total - 2)


def _reml_loglik(sums: _GroupSums, gamma: float) -> float:
    """REML log-likelihood with sigma^2 profiled out (up to a constant)."""
    a, b, yy = _gls_parts(sums, gamma)
    beta = np.linalg.solve(a, b)
    rss = max(yy - float(b @ beta), 1e-300)
    df = sums.total - 2
    _, logdet_a = np.linalg.slogdet(a)
    return -0.5 * (df * math.log(rss / df) + float(np.sum(np.log1p(sums.n * gamma))) + logdet_a)


def _reml_gamma(sums: _GroupSums) -> float:
    result = optimize.minimize_scalar(
        lambda t: -_reml_loglik(sums, math.exp(t)),
        bounds=_LOG_GAMMA_BOUNDS,
        method="bounded",
        options={"xatol": 1e-7},
    )
    gamma = math.exp(float(result.x))
    # The maximum may sit on the boundary tau^2 = 0, which a log scale only approaches.
    return 0.0 if _reml_loglik(sums, 0.0) >= _reml_loglik(sums, gamma) else gamma


def _profile_interval(sums: _GroupSums, gamma: float) -> tuple[float, float]:
    """Gammas whose likelihood-ratio statistic against the maximum is below chi2(1, 0.95)."""
    cutoff = _reml_loglik(sums, gamma) - 0.5 * float(stats.chi2.ppf(CONFIDENCE, 1))

    def excess(log_gamma: float) -> float:
        return _reml_loglik(sums, math.exp(log_gamma)) - cutoff

    low = 0.0
    if _reml_loglik(sums, 0.0) < cutoff:
        start = _LOG_GAMMA_BOUNDS[0]
        low = math.exp(optimize.brentq(excess, start, math.log(gamma), xtol=1e-8))
    top = _LOG_GAMMA_BOUNDS[1]
    if excess(top) > 0:
        return low, math.exp(top)
    start = math.log(gamma) if gamma > 0 else _LOG_GAMMA_BOUNDS[0]
    return low, math.exp(optimize.brentq(excess, start, top, xtol=1e-8))


def _per_therapist(
    episodes: pd.DataFrame,
    codes: npt.NDArray[np.intp],
    therapist_ids: pd.Index,
    sums: _GroupSums,
    gamma: float,
    beta: FloatArray,
    sigma2: float,
) -> pd.DataFrame:
    mean_residual = (sums.sy - beta[0] * sums.n - beta[1] * sums.sx) / sums.n
    shrinkage = sums.n * gamma / (1.0 + sums.n * gamma)
    blup = shrinkage * mean_residual
    conditional_sd = np.sqrt(gamma * sigma2 * (1.0 - shrinkage))
    change = (episodes["final"] - episodes["intake"]).to_numpy(float)
    return pd.DataFrame(
        {
            "therapist_id": np.asarray(therapist_ids, dtype=object),
            "n_episodes": sums.n.astype(int),
            "mean_intake": sums.sx / sums.n,
            "mean_change": np.bincount(codes, weights=change) / sums.n,
            "raw_effect": mean_residual,
            "shrinkage": shrinkage,
            "blup": blup,
            "blup_sd": conditional_sd,
        }
    )


def _labelled(table: pd.DataFrame, better: float) -> pd.DataFrame:
    # Effects are reported in the better direction so that "above" always means better results.
    effect = better * table.pop("blup")
    sd = table.pop("blup_sd")
    table["raw_effect"] = better * table["raw_effect"]
    table["effect"] = effect
    table["low"], table["high"] = normal_interval(effect, sd)
    table["label"] = np.where(
        table["low"] > 0, "above", np.where(table["high"] < 0, "below", "average")
    )
    return table.sort_values("therapist_id", kind="stable").reset_index(drop=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
