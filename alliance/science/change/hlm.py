"""Reliable change from a multilevel growth model (the "HLM" method).

Model, on every score of the patients with at least three: y_ij = (b0 + u0_i) + (b1 + u1_i) t_ij + e_ij,
(u0, u1) ~ N(0, Sigma) with a free 2x2 Sigma, e ~ N(0, sigma^2), fitted by REML. A patient changed
reliably when the empirical-Bayes (conditional mode) slope deviation u1_i, divided by its conditional
SD, is beyond the critical value: the test of the R package clinicalsignificance (lme4's
``lmer(y ~ time + (time | id))`` and ``ranef(condVar = TRUE)``), after Raudenbush & Bryk (2002).

The REML criterion is profiled as in lme4 (Bates et al. 2015): Sigma = sigma^2 L L^T with L lower
triangular, theta = (L11, L21, L22), L11 and L22 >= 0, so a singular fit lies on the boundary
instead of outside the parameter space. Because X = Z = [1, t], every quantity is a sum of 2x2
per-patient blocks, so one evaluation costs O(patients) with no Python loop over them. The tests
check that statsmodels MixedLM gives the same REML likelihood at this optimum and no better one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize

from alliance.science.change.base import ChangeError, FloatArray

MIN_SCORES = 3
_P = 2  # fixed effects: intercept and slope
_BOUNDS = [(0.0, None), (None, None), (0.0, None)]


@dataclass(frozen=True)
class RandomSlopeFit:
    """The fitted model and, per patient (in ``ids`` order), the slope deviation and its test."""

    ids: npt.NDArray[np.str_]
    theta: FloatArray
    fixed_intercept: float
    fixed_slope: float
    sigma2: float
    covariance: FloatArray
    reml_criterion: float
    slope_deviation: FloatArray
    conditional_sd: FloatArray

    @property
    def z(self) -> FloatArray:
        # A slope variance of 0 shrinks every deviation to exactly 0: no patient differs.
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = self.slope_deviation / self.conditional_sd
        return np.where(self.conditional_sd > 0, ratio, 0.0)

    @property
    def singular(self) -> bool:
        return bool(np.linalg.eigvalsh(self.covariance)[0] <= 1e-10 * np.trace(self.covariance))


@dataclass(frozen=True)
class _Blocks:
    ids: npt.NDArray[np.str_]
    xtx: FloatArray  # per patient: sum of [1 t; t t^2]
    xty: FloatArray  # per patient: sum of [y, t y]
    yty: FloatArray  # per patient: sum of y^2
    n: int


def fit_random_slopes(
    ids: npt.ArrayLike, times: npt.ArrayLike, scores: npt.ArrayLike
) -> RandomSlopeFit:
    """REML fit of the random-intercept, random-slope model on a long table (one row per score)."""
    blocks = _blocks(ids, times, scores)

    def criterion(theta: FloatArray) -> float:
        return _evaluate(theta, blocks)[0]

    # lme4's start (identity relative covariance), then a derivative-free polish: the criterion
    # is flat near singular fits, where quasi-Newton steps stop early. Singular fits are common
    # (a slope variance or an intercept-slope correlation at its limit), so the boundary
    # L22 = 0 is searched on its own too, and the lowest criterion wins.
    start = optimize.minimize(
        criterion,
        np.array([1.0, 0.0, 1.0]),
        method="L-BFGS-B",
        bounds=_BOUNDS,
        options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000},
    )
    polished = optimize.minimize(
        criterion,
        start.x,
        method="Powell",
        bounds=_BOUNDS,
        options={"xtol": 1e-10, "ftol": 1e-15, "maxiter": 20000},
    )
    boundary = optimize.minimize(
        lambda free: criterion(np.array([free[0], free[1], 0.0])),
        start.x[:2],
        method="L-BFGS-B",
        bounds=_BOUNDS[:2],
        options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000},
    )
    candidates = [start.x, polished.x, np.array([boundary.x[0], boundary.x[1], 0.0])]
    theta = min(candidates, key=criterion)
    if not np.isfinite(criterion(theta)):
        raise ChangeError("the growth model cannot be fitted to these scores")
    return _fit_at(np.asarray(theta, dtype=np.float64), blocks)


def random_slopes_at(
    ids: npt.ArrayLike,
    times: npt.ArrayLike,
    scores: npt.ArrayLike,
    covariance: npt.ArrayLike,
    sigma2: float,
) -> RandomSlopeFit:
    """The same quantities at given variance components (e.g. another program's estimates)."""
    relative = np.asarray(covariance, dtype=np.float64) / sigma2
    l11 = math.sqrt(relative[0, 0])
    l21 = relative[1, 0] / l11 if l11 > 0 else 0.0
    l22 = math.sqrt(max(relative[1, 1] - l21**2, 0.0))
    return _fit_at(np.array([l11, l21, l22]), _blocks(ids, times, scores))


def theta_matrix(theta: FloatArray) -> FloatArray:
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


def _blocks(ids: npt.ArrayLike, times: npt.ArrayLike, scores: npt.ArrayLike) -> _Blocks:
    keys, index = np.unique(np.asarray(ids).astype(str), return_inverse=True)
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    k = len(keys)
    if k < 2 or len(y) <= _P + 3:
        raise ChangeError(
            f"the growth model needs at least 2 patients with {MIN_SCORES} or more scores"
        )

    def total(values: FloatArray) -> FloatArray:
        return np.bincount(index, weights=values, minlength=k)

    xtx = np.empty((k, 2, 2))
    xtx[:, 0, 0] = total(np.ones_like(t))
    xtx[:, 0, 1] = xtx[:, 1, 0] = total(t)
    xtx[:, 1, 1] = total(t * t)
    xty = np.stack([total(y), total(t * y)], axis=1)
    return _Blocks(keys, xtx, xty, total(y * y), len(y))


def _evaluate(
    theta: FloatArray, b: _Blocks
) -> tuple[float, FloatArray, float, FloatArray, FloatArray]:
    """REML criterion -2 log L_R profiled over beta and sigma^2, with the pieces to reuse."""
    lam = theta_matrix(theta)
    m = np.einsum("ji,gjk,kl->gil", lam, b.xtx, lam) + np.eye(2)
    m_inv = np.linalg.inv(m)
    # Woodbury: V_i^-1 sigma^2 = I - Z L M^-1 L^T Z^T, so each cross product loses one 2x2 term.
    shrink = np.einsum("ij,gjk,lk->gil", lam, m_inv, lam)
    a = np.einsum("gij,gjk->gik", b.xtx, shrink)
    xwx = (b.xtx - np.einsum("gij,gjk->gik", a, b.xtx)).sum(axis=0)
    xwy = (b.xty - np.einsum("gij,gj->gi", a, b.xty)).sum(axis=0)
    ywy = float((b.yty - np.einsum("gi,gij,gj->g", b.xty, shrink, b.xty)).sum())
    sign, logdet_xwx = np.linalg.slogdet(xwx)
    if sign <= 0:
        return math.inf, np.zeros(2), math.nan, m_inv, shrink
    beta = np.linalg.solve(xwx, xwy)
    r2 = ywy - 2.0 * float(beta @ xwy) + float(beta @ xwx @ beta)
    dof = b.n - _P
    if not r2 > 0:
        return math.inf, beta, math.nan, m_inv, shrink
    criterion = (
        float(np.linalg.slogdet(m)[1].sum())
        + float(logdet_xwx)
        + dof * (1.0 + math.log(2.0 * math.pi * r2 / dof))
    )
    return criterion, beta, r2 / dof, m_inv, shrink


def _fit_at(theta: FloatArray, b: _Blocks) -> RandomSlopeFit:
    criterion, beta, sigma2, m_inv, shrink = _evaluate(theta, b)
    if not math.isfinite(criterion):
        raise ChangeError("the growth model cannot be fitted to these scores")
    lam = theta_matrix(theta)
    residual = b.xty - np.einsum("gij,j->gi", b.xtx, beta)
    spherical = np.einsum("gij,kj,gk->gi", m_inv, lam, residual)  # M^-1 L^T Z^T (y - X beta)
    modes = spherical @ lam.T
    return RandomSlopeFit(
        ids=b.ids,
        theta=theta,
        fixed_intercept=float(beta[0]),
        fixed_slope=float(beta[1]),
        sigma2=sigma2,
        covariance=sigma2 * lam @ lam.T,
        reml_criterion=criterion,
        slope_deviation=modes[:, 1],
        conditional_sd=np.sqrt(sigma2 * shrink[:, 1, 1]),
    )
