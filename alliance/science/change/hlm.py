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
        # lme4's isSingular(): a diagonal element of the relative Cholesky factor below 1e-4.
        return bool(min(self.theta[0], self.theta[2]) < 1e-4)


@dataclass(frozen=True)
class _Blocks:
    """Per patient sums: [1 t; t t^2] as s00, s01, s11; [y, t y] as a0, a1; y^2 as yy."""

    ids: npt.NDArray[np.str_]
    s00: FloatArray
    s01: FloatArray
    s11: FloatArray
    a0: FloatArray
    a1: FloatArray
    yy: FloatArray
    n: int


@dataclass(frozen=True)
class _Evaluation:
    criterion: float
    beta: FloatArray
    sigma2: float
    i00: FloatArray  # M^-1, symmetric 2x2 per patient
    i01: FloatArray
    i11: FloatArray
    p11: FloatArray  # (L M^-1 L^T)[1, 1]: the relative conditional variance of the slope


def fit_random_slopes(
    ids: npt.ArrayLike, times: npt.ArrayLike, scores: npt.ArrayLike
) -> RandomSlopeFit:
    """REML fit of the random-intercept, random-slope model on a long table (one row per score)."""
    # Imported here: scipy.optimize takes ~0.4 s to import, and every user of the change package
    # (e.g. `alliance effectiveness`, for its categories) would pay for it otherwise.
    from scipy import optimize

    blocks = _blocks(ids, times, scores)

    def criterion(theta: FloatArray) -> float:
        return _evaluate(theta, blocks).criterion

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
    if k < 2 or len(y) <= _P:
        raise ChangeError(
            f"the growth model needs at least 2 patients with {MIN_SCORES} or more scores"
        )

    def total(values: FloatArray) -> FloatArray:
        return np.bincount(index, weights=values, minlength=k)

    return _Blocks(
        ids=keys,
        s00=total(np.ones_like(t)),
        s01=total(t),
        s11=total(t * t),
        a0=total(y),
        a1=total(t * y),
        yy=total(y * y),
        n=len(y),
    )


def _evaluate(theta: FloatArray, b: _Blocks) -> _Evaluation:
    """REML criterion -2 log L_R profiled over beta and sigma^2, with the pieces to reuse.

    Per patient M = L^T Z^T Z L + I; by Woodbury sigma^2 V^-1 = I - Z L M^-1 L^T Z^T, so every
    cross product is the plain one minus a 2x2 correction. The 2x2 algebra is written out on
    arrays of patients: a batched matmul costs a hundred times more at 20 000 patients.
    """
    l1, l2, l3 = (float(value) for value in theta)
    # L^T S L + I with S = Z^T Z
    sl00, sl01 = b.s00 * l1 + b.s01 * l2, b.s01 * l3
    sl10, sl11 = b.s01 * l1 + b.s11 * l2, b.s11 * l3
    m00 = 1.0 + l1 * sl00 + l2 * sl10
    m01 = l1 * sl01 + l2 * sl11
    m11 = 1.0 + l3 * sl11
    det = m00 * m11 - m01 * m01
    i00, i01, i11 = m11 / det, -m01 / det, m00 / det
    # P = L M^-1 L^T
    c00, c01 = l1 * i00, l1 * i01
    c10, c11 = l2 * i00 + l3 * i01, l2 * i01 + l3 * i11
    p00, p01, p11 = c00 * l1, c00 * l2 + c01 * l3, c10 * l2 + c11 * l3
    # S P S and S P a
    q00, q01 = b.s00 * p00 + b.s01 * p01, b.s00 * p01 + b.s01 * p11
    q10, q11 = b.s01 * p00 + b.s11 * p01, b.s01 * p01 + b.s11 * p11
    xwx = np.array(
        [
            [
                np.sum(b.s00 - (q00 * b.s00 + q01 * b.s01)),
                np.sum(b.s01 - (q00 * b.s01 + q01 * b.s11)),
            ],
            [0.0, np.sum(b.s11 - (q10 * b.s01 + q11 * b.s11))],
        ]
    )
    xwx[1, 0] = xwx[0, 1]
    pa0, pa1 = p00 * b.a0 + p01 * b.a1, p01 * b.a0 + p11 * b.a1
    xwy = np.array(
        [np.sum(b.a0 - (b.s00 * pa0 + b.s01 * pa1)), np.sum(b.a1 - (b.s01 * pa0 + b.s11 * pa1))]
    )
    ywy = float(np.sum(b.yy - (b.a0 * pa0 + b.a1 * pa1)))
    failed = _Evaluation(math.inf, np.zeros(2), math.nan, i00, i01, i11, p11)
    sign, logdet_xwx = np.linalg.slogdet(xwx)
    if sign <= 0 or not (det > 0).all():
        return failed
    beta = np.linalg.solve(xwx, xwy)
    r2 = ywy - 2.0 * float(beta @ xwy) + float(beta @ xwx @ beta)
    dof = b.n - _P
    if not r2 > 0:
        return failed
    criterion = (
        float(np.sum(np.log(det)))
        + float(logdet_xwx)
        + dof * (1.0 + math.log(2.0 * math.pi * r2 / dof))
    )
    return _Evaluation(criterion, beta, r2 / dof, i00, i01, i11, p11)


def _fit_at(theta: FloatArray, b: _Blocks) -> RandomSlopeFit:
    e = _evaluate(theta, b)
    if not math.isfinite(e.criterion):
        raise ChangeError("the growth model cannot be fitted to these scores")
    l1, l2, l3 = (float(value) for value in theta)
    # Conditional modes: u = M^-1 L^T Z^T (y - X beta), b = L u.
    r0 = b.a0 - (b.s00 * e.beta[0] + b.s01 * e.beta[1])
    r1 = b.a1 - (b.s01 * e.beta[0] + b.s11 * e.beta[1])
    v0, v1 = l1 * r0 + l2 * r1, l3 * r1
    u0, u1 = e.i00 * v0 + e.i01 * v1, e.i01 * v0 + e.i11 * v1
    lam = theta_matrix(theta)
    return RandomSlopeFit(
        ids=b.ids,
        theta=theta,
        fixed_intercept=float(e.beta[0]),
        fixed_slope=float(e.beta[1]),
        sigma2=e.sigma2,
        covariance=e.sigma2 * lam @ lam.T,
        reml_criterion=e.criterion,
        slope_deviation=l2 * u0 + l3 * u1,
        conditional_sd=np.sqrt(e.sigma2 * e.p11),
    )
