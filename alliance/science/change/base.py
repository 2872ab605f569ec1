"""Shared pieces of the change statistics: constants, errors, critical values, categories."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

CATEGORIES: tuple[str, ...] = ("recovered", "improved", "unchanged", "deteriorated", "harmed")
# The conventional rounded values; the exact ones below are the default of analyse_change.
JT_CRITICAL_Z = 1.96
HA_CRITICAL_Z = 1.65
ALPHA = 0.05
METHODS: tuple[str, ...] = ("jt", "ha", "en", "gln", "hll", "nk", "hlm")
APPROACHES: tuple[str, ...] = ("distribution", "statistical", "combined")
CUTOFF_TYPES: tuple[str, ...] = ("a", "b", "c")
CRITICAL_RULES: tuple[str, ...] = ("exact", "rounded")
BOUNDARIES: tuple[str, ...] = ("reference", "functional")
CUTOFF_B_SDS: tuple[str, ...] = ("functional", "clinical")
HA_CUTOFFS: tuple[str, ...] = ("true", "observed")
HA_HARMED_RULES: tuple[str, ...] = ("reference", "clinical-post")
MISSING_GROUP = "(missing)"

Method = Literal["jt", "ha", "en", "gln", "hll", "nk", "hlm"]
CutoffType = Literal["a", "b", "c"]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class ChangeError(ValueError):
    """Bad input to the change analysis; the message names the column, row, id or option."""


@dataclass(frozen=True)
class ChangeResult:
    """``summary`` is the ``alliance change --json`` object; ``per_case`` one row per used case."""

    summary: dict[str, Any]
    per_case: pd.DataFrame


def critical_value(method: str, rule: str = "exact", alpha: float = ALPHA) -> float:
    """The criterion |RCI| must exceed: two-sided for every method but HA, which is one-sided.

    ``rule="exact"`` gives the normal quantile (1.959964 and 1.644854 at alpha .05), as the R
    package clinicalsignificance does; ``"rounded"`` the conventional 1.96 and 1.65 of the papers,
    which is only defined at alpha .05.
    """
    one_sided = method == "ha"
    if rule == "rounded":
        if alpha != ALPHA:
            raise ChangeError("rounded critical values exist only for alpha .05")
        return HA_CRITICAL_Z if one_sided else JT_CRITICAL_Z
    if rule != "exact":
        raise ChangeError(f"critical must be one of {', '.join(CRITICAL_RULES)}, not {rule!r}")
    if not (0.0 < alpha < 1.0):
        raise ChangeError(f"alpha must be strictly between 0 and 1, not {alpha!r}")
    return NormalDist().inv_cdf(1.0 - (alpha if one_sided else alpha / 2.0))


def rc_threshold(sd_pre: float, reliability: float, z: float = JT_CRITICAL_Z) -> float:
    """Reliable-change threshold in raw points: z * S_diff = z * sqrt(2) * SD_pre * sqrt(1 - r)."""
    check_reliability(reliability)
    if not math.isfinite(sd_pre) or sd_pre < 0:
        raise ValueError(f"sd_pre must be a finite number >= 0, not {sd_pre!r}")
    return z * math.sqrt(2.0) * standard_error(sd_pre, reliability)


def standard_error(sd: float, reliability: float) -> float:
    """Standard error of measurement SE = SD * sqrt(1 - r)."""
    return sd * math.sqrt(1.0 - reliability)


def categorize(
    pre: npt.ArrayLike,
    post: npt.ArrayLike,
    threshold: float,
    *,
    higher_is_better: bool = True,
    cutoff: float | None = None,
) -> npt.NDArray[np.str_]:
    """Change category of each case, vectorized.

    A case changed reliably when its change in the better direction is strictly greater than
    ``threshold`` (raw points), i.e. ``d * RCI > z``. Without ``cutoff`` only "improved",
    "unchanged" and "deteriorated" occur; with it, "recovered" and "harmed" too. A score exactly
    on the cutoff counts as functional here (``boundary="functional"`` of analyse_change).
    """
    pre_values, post_values = paired_scores(pre, post)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, not {threshold!r}")
    gain = direction(higher_is_better) * (post_values - pre_values)
    return categorize_reliable(
        pre_values,
        post_values,
        gain > threshold,
        gain < -threshold,
        higher_is_better=higher_is_better,
        cutoff=cutoff,
    )


def categorize_reliable(
    pre: FloatArray,
    post: FloatArray,
    reliably_better: BoolArray,
    reliably_worse: BoolArray,
    *,
    higher_is_better: bool = True,
    cutoff: float | None = None,
) -> npt.NDArray[np.str_]:
    """Categories from already decided reliable improvement/deterioration (score on cutoff: functional)."""
    if cutoff is None:
        return combine(reliably_better, reliably_worse, None, None)
    if not math.isfinite(cutoff):
        raise ValueError(f"cutoff must be a finite number, not {cutoff!r}")
    clinical_pre = is_clinical(pre, cutoff, higher_is_better=higher_is_better)
    clinical_post = is_clinical(post, cutoff, higher_is_better=higher_is_better)
    return combine(reliably_better, reliably_worse, clinical_pre, ~clinical_post)


def combine(
    reliably_better: BoolArray,
    reliably_worse: BoolArray,
    clinical_pre: BoolArray | None,
    functional_post: BoolArray | None,
    clinical_post: BoolArray | None = None,
) -> npt.NDArray[np.str_]:
    """The five categories (three without a cutoff), each case in exactly one.

    Recovered: reliably better, clinical at pre and functional at post. Harmed: reliably worse,
    not clinical at pre and not functional at post, or, when ``clinical_post`` is given (HA's
    CS_indiv decision), clinical at post.
    """
    if clinical_pre is None or functional_post is None:
        recovered = np.zeros(reliably_better.shape, dtype=bool)
        harmed = np.zeros(reliably_better.shape, dtype=bool)
    else:
        recovered = reliably_better & clinical_pre & functional_post
        ended_badly = ~functional_post if clinical_post is None else clinical_post
        harmed = reliably_worse & ~clinical_pre & ended_badly
    return np.select(
        [recovered, reliably_better, harmed, reliably_worse],
        ["recovered", "improved", "harmed", "deteriorated"],
        default="unchanged",
    )


def is_clinical(scores: FloatArray, cutoff: float, *, higher_is_better: bool = True) -> BoolArray:
    """Strictly on the dysfunctional side of the cutoff: a score exactly on it is not clinical."""
    return direction(higher_is_better) * (scores - cutoff) < 0


def is_functional(
    scores: FloatArray, cutoff: float, *, higher_is_better: bool = True, boundary: str = "reference"
) -> BoolArray:
    """On the functional side of the cutoff; exactly on it counts only with ``boundary="functional"``.

    The reference rule (R clinicalsignificance) demands strictly beyond the cutoff, so a post score
    exactly on it is neither clinical nor functional and cannot make a case recovered.
    """
    gain = direction(higher_is_better) * (scores - cutoff)
    return gain >= 0 if boundary == "functional" else gain > 0


def paired_scores(pre: npt.ArrayLike, post: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    pre_values = np.asarray(pre, dtype=np.float64)
    post_values = np.asarray(post, dtype=np.float64)
    if pre_values.shape != post_values.shape:
        raise ValueError(
            f"pre and post must have the same shape, not {pre_values.shape} and {post_values.shape}"
        )
    if not (np.isfinite(pre_values).all() and np.isfinite(post_values).all()):
        raise ValueError("pre and post scores must be finite numbers (drop missing cases first)")
    return pre_values, post_values


def direction(higher_is_better: bool) -> int:
    return 1 if higher_is_better else -1


def check_reliability(reliability: float) -> None:
    if not (0.0 < reliability < 1.0):
        raise ValueError(f"reliability must be strictly between 0 and 1, not {reliability!r}")
