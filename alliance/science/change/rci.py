"""Reliable change indices between two time points: JT, GLN, HLL, EN, NK and HA.

Each function takes the pre and post scores of the used cases and returns the index per case, the
reliable improvement/deterioration decisions and the parameters it used (named as in the JSON).
docs/change.md gives every formula with its source and a worked example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alliance.science.change.base import (
    BoolArray,
    ChangeError,
    FloatArray,
    direction,
    standard_error,
)


@dataclass(frozen=True)
class ReliableChange:
    rci: FloatArray
    reliably_better: BoolArray
    reliably_worse: BoolArray
    parameters: dict[str, Any] = field(default_factory=dict)


def _decide(
    rci: FloatArray, critical: float, higher_is_better: bool
) -> tuple[BoolArray, BoolArray]:
    better = direction(higher_is_better) * rci
    return better > critical, better < -critical


def jacobson_truax(
    pre: FloatArray, post: FloatArray, reliability: float, critical: float, higher_is_better: bool
) -> ReliableChange:
    """RCI = (x2 - x1) / S_diff with S_diff = sqrt(2) SE, SE = SD_pre sqrt(1 - r)."""
    sd_pre = float(np.std(pre, ddof=1))
    s_diff = math.sqrt(2.0) * standard_error(sd_pre, reliability)
    threshold = critical * s_diff
    # Raw change against the raw threshold, exactly as categorize() does, so that both agree.
    gain = direction(higher_is_better) * (post - pre)
    return ReliableChange(
        rci=(post - pre) / s_diff,
        reliably_better=gain > threshold,
        reliably_worse=gain < -threshold,
        parameters={"s_diff": s_diff, "rc_threshold": threshold},
    )


def gulliksen_lord_novick(
    pre: FloatArray, post: FloatArray, reliability: float, critical: float, higher_is_better: bool
) -> ReliableChange:
    """RCI = ((x2 - M1) - r (x1 - M1)) / (SD_pre sqrt(1 - r^2)): change from the regressed pre score."""
    m_pre, sd_pre = float(np.mean(pre)), float(np.std(pre, ddof=1))
    se_prediction = sd_pre * math.sqrt(1.0 - reliability**2)
    rci = ((post - m_pre) - reliability * (pre - m_pre)) / se_prediction
    return ReliableChange(
        rci,
        *_decide(rci, critical, higher_is_better),
        parameters={"se_prediction": se_prediction, "m_pre": m_pre},
    )


def hsu_linn_lord(
    pre: FloatArray, post: FloatArray, reliability: float, critical: float, higher_is_better: bool
) -> ReliableChange:
    """RCI = ((x2 - M2) - r (x1 - M1)) / (SD_pre sqrt(1 - r^2)): GLN allowing a mean change."""
    m_pre, sd_pre = float(np.mean(pre)), float(np.std(pre, ddof=1))
    m_post = float(np.mean(post))
    se_prediction = sd_pre * math.sqrt(1.0 - reliability**2)
    rci = ((post - m_post) - reliability * (pre - m_pre)) / se_prediction
    return ReliableChange(
        rci,
        *_decide(rci, critical, higher_is_better),
        parameters={"se_prediction": se_prediction, "m_pre": m_pre, "m_post": m_post},
    )


def edwards_nunnally(
    pre: FloatArray, post: FloatArray, reliability: float, critical: float, higher_is_better: bool
) -> ReliableChange:
    """RCI = (x2 - (r (x1 - M1) + M1)) / SE: post against the estimated true pre score (Speer 1992)."""
    m_pre, sd_pre = float(np.mean(pre)), float(np.std(pre, ddof=1))
    se = standard_error(sd_pre, reliability)
    rci = (post - (reliability * (pre - m_pre) + m_pre)) / se
    return ReliableChange(
        rci,
        *_decide(rci, critical, higher_is_better),
        parameters={"se_measurement": se, "m_pre": m_pre},
    )


def nunnally_kotsch(
    pre: FloatArray,
    post: FloatArray,
    reliability: float,
    critical: float,
    higher_is_better: bool,
    reliability_post: float,
) -> ReliableChange:
    """RCI = (x2 - (r1 (x1 - M1) + M1)) / sqrt(r1^2 SD^2 (1 - r1) + SD^2 (1 - r2))."""
    m_pre, sd_pre = float(np.mean(pre)), float(np.std(pre, ddof=1))
    denominator = math.sqrt(
        reliability**2 * sd_pre**2 * (1.0 - reliability) + sd_pre**2 * (1.0 - reliability_post)
    )
    rci = (post - (reliability * (pre - m_pre) + m_pre)) / denominator
    return ReliableChange(
        rci,
        *_decide(rci, critical, higher_is_better),
        parameters={
            "nk_denominator": denominator,
            "reliability_post": reliability_post,
            "m_pre": m_pre,
        },
    )


def hageman_arrindell(
    pre: FloatArray, post: FloatArray, reliability: float, critical: float, higher_is_better: bool
) -> ReliableChange:
    """RCI_HA = ((x2 - x1) r_dd + (M2 - M1)(1 - r_dd)) / (sqrt(r_dd) sqrt(2 SE^2)), one-sided."""
    sd_pre = float(np.std(pre, ddof=1))
    sd_post = float(np.std(post, ddof=1))
    # The measurement error belongs to the instrument, so one SE (from the pre SD) serves both.
    se = standard_error(sd_pre, reliability)
    r_pre = (sd_pre**2 - se**2) / sd_pre**2
    r_post = (sd_post**2 - se**2) / sd_post**2 if sd_post > 0 else 0.0
    # With no spread at post the correlation is undefined but its term vanishes anyway.
    r12 = float(np.corrcoef(pre, post)[0, 1]) if sd_post > 0 else 0.0
    cross = 2.0 * sd_pre * sd_post * r12
    # The denominator is the variance of the differences: 0 when every case changed alike.
    variance_of_change = sd_pre**2 + sd_post**2 - cross
    r_dd = (
        (sd_pre**2 * r_pre + sd_post**2 * r_post - cross) / variance_of_change
        if variance_of_change > 1e-12 * (sd_pre**2 + sd_post**2)
        else math.nan
    )
    if not math.isfinite(r_dd) or r_dd <= 0:
        raise ChangeError(
            f"the reliability of the difference scores is {r_dd:.3g} (not positive or undefined): "
            "the Hageman-Arrindell method does not apply to these data; use the jt method"
        )
    s_diff = math.sqrt(2.0 * se**2)
    mean_change = float(np.mean(post) - np.mean(pre))
    rci = ((post - pre) * r_dd + mean_change * (1.0 - r_dd)) / (math.sqrt(r_dd) * s_diff)
    d = direction(higher_is_better)
    # Raw change d*(x2 - x1) at which d*RCI_HA reaches +-critical: asymmetric unless M2 = M1.
    shift = d * mean_change * (1.0 - r_dd)
    scale = critical * math.sqrt(r_dd) * s_diff
    return ReliableChange(
        rci,
        *_decide(rci, critical, higher_is_better),
        parameters={
            "s_diff": s_diff,
            "se_measurement": se,
            "rc_threshold": (scale - shift) / r_dd,
            "rc_threshold_deterioration": (scale + shift) / r_dd,
            "sd_post": sd_post,
            "mean_pre": float(np.mean(pre)),
            "mean_post": float(np.mean(post)),
            "r_pre": r_pre,
            "r_post": r_post,
            "r12": r12,
            "r_dd": r_dd,
        },
    )
