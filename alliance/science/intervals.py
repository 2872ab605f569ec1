"""Confidence intervals used across the science core, each defined once.

Proportions get Wilson score intervals, means t-based ones, correlations Fisher-z ones, the pre-post
effect size a delta-method one, and an estimate with a known standard error a normal one. All are
95% by default; undefined intervals are (nan, nan), never an exception, so that summaries of small
groups stay computable.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import special

CONFIDENCE = 0.95
Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (nan, nan) when n is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, not {successes} of {n}")
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denominator = 1.0 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def fisher_interval(r: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Fisher-z interval for a Pearson correlation; (nan, nan) when n <= 3 or r is undefined."""
    if n <= 3 or not math.isfinite(r) or abs(r) >= 1:
        return (math.nan, math.nan)
    centre = math.atanh(r)
    half = z / math.sqrt(n - 3)
    return (math.tanh(centre - half), math.tanh(centre + half))


def effect_size_interval(
    mean_change: float, sd_change: float, sd_intake: float, n: int, z: float = Z_95
) -> tuple[float, float, float]:
    """Pre-post ES = mean change / SD of intake and its delta-method interval.

    Var(ES) ~ SD_change^2 / (n SD_intake^2) + ES^2 / (2 (n - 1)): the sampling error of the mean
    change plus that of the SD in the denominator (Becker 1988's form for the standardized mean
    change, where SD_change^2 = 2 SD^2 (1 - r)).
    """
    if n < 2 or not sd_intake > 0:
        return (math.nan, math.nan, math.nan)
    es = mean_change / sd_intake
    se = math.sqrt(sd_change**2 / (n * sd_intake**2) + es**2 / (2 * (n - 1)))
    return (es, es - z * se, es + z * se)


def mean_interval(
    mean: float, sd: float, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """t-based interval for a mean of ``n`` values with sample SD ``sd``; (nan, nan) when n < 2."""
    if n < 2:
        return (math.nan, math.nan)
    # The t quantile itself (what scipy.stats.t.ppf computes): scipy.stats takes ~0.3 s to import.
    half = float(special.stdtrit(n - 1, 0.5 + confidence / 2.0)) * sd / math.sqrt(n)
    return (mean - half, mean + half)


def normal_interval(
    estimate: npt.ArrayLike, se: npt.ArrayLike, z: float = Z_95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """estimate -/+ z * se, elementwise (e.g. a shrunken estimate with its conditional SD)."""
    centre = np.asarray(estimate, dtype=float)
    half = z * np.asarray(se, dtype=float)
    return centre - half, centre + half
