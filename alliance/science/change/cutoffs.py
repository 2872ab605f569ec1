"""Cutoffs a, b and c between the clinical and the functional population.

Observed-score cutoffs after Jacobson & Truax (1991); true-score cutoffs and the individual
clinical-significance index CS_indiv after Hageman & Arrindell (1999). docs/change.md gives the
formulas, their sources and where the R package clinicalsignificance differs (cutoff b).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alliance.science.change.base import (
    CUTOFF_B_SDS,
    CUTOFF_TYPES,
    BoolArray,
    ChangeError,
    FloatArray,
    direction,
    standard_error,
)


def clinical_cutoff(
    cutoff_type: str,
    *,
    m_clinical: float,
    sd_clinical: float,
    m_functional: float | None = None,
    sd_functional: float | None = None,
    higher_is_better: bool = True,
    b_sd: str = "functional",
) -> float:
    """Jacobson-Truax cutoff a, b or c between the clinical and the functional population.

    ``b_sd="clinical"`` reproduces the R package, which puts b two *clinical* SDs from the
    functional mean; Jacobson & Truax (1991) use the functional SD (the default).
    """
    # a lies 2 SD from the clinical mean towards functioning, b 2 SD from the functional mean
    # towards dysfunction (docs/change.md explains the sign of d).
    d = direction(higher_is_better)
    if cutoff_type == "a":
        return m_clinical + d * 2.0 * sd_clinical
    m_functional, sd_functional = _norm(cutoff_type, m_functional, sd_functional)
    if cutoff_type == "b":
        return m_functional - d * 2.0 * _b_sd(b_sd, sd_clinical, sd_functional)
    if cutoff_type == "c":
        return (sd_clinical * m_functional + sd_functional * m_clinical) / (
            sd_clinical + sd_functional
        )
    raise ChangeError(f"cutoff must be one of {', '.join(CUTOFF_TYPES)}, not {cutoff_type!r}")


@dataclass(frozen=True)
class TrueScoreCutoff:
    """Hageman & Arrindell's cutoff on true scores, with the reliabilities it used."""

    value: float
    se_measurement: float
    reliability_clinical: float
    reliability_functional: float | None


def true_score_cutoff(
    cutoff_type: str,
    *,
    m_clinical: float,
    sd_clinical: float,
    reliability: float,
    m_functional: float | None = None,
    sd_functional: float | None = None,
    higher_is_better: bool = True,
    b_sd: str = "functional",
) -> TrueScoreCutoff:
    """Cutoff a, b or c between the true-score distributions (Hageman & Arrindell 1999).

    The SD of true scores is SD * sqrt(r) with the reliability r = (SD^2 - SE^2) / SD^2 of each
    population, SE = SD_c * sqrt(1 - r_xx) being the instrument's measurement error.
    """
    se = standard_error(sd_clinical, reliability)
    r_clinical = reliability_from_error(sd_clinical, se)
    true_sd_clinical = sd_clinical * math.sqrt(r_clinical)
    d = direction(higher_is_better)
    if cutoff_type == "a":
        return TrueScoreCutoff(m_clinical + d * 2.0 * true_sd_clinical, se, r_clinical, None)
    m_functional, sd_functional = _norm(cutoff_type, m_functional, sd_functional)
    r_functional = reliability_from_error(sd_functional, se)
    if r_functional <= 0:
        raise ChangeError(
            f"the functional SD {sd_functional:g} is not larger than the measurement error "
            f"{se:.4g}: no true-score cutoff {cutoff_type} (use ha_cutoff='observed' or cutoff a)"
        )
    true_sd_functional = sd_functional * math.sqrt(r_functional)
    if cutoff_type == "b":
        value = m_functional - d * 2.0 * _b_sd(b_sd, true_sd_clinical, true_sd_functional)
    elif cutoff_type == "c":
        value = (true_sd_clinical * m_functional + true_sd_functional * m_clinical) / (
            true_sd_clinical + true_sd_functional
        )
    else:
        raise ChangeError(f"cutoff must be one of {', '.join(CUTOFF_TYPES)}, not {cutoff_type!r}")
    return TrueScoreCutoff(value, se, r_clinical, r_functional)


def reliability_from_error(sd: float, se: float) -> float:
    """Reliability of a population with spread SD measured with error SE: (SD^2 - SE^2) / SD^2."""
    return (sd**2 - se**2) / sd**2


@dataclass(frozen=True)
class IndividualSignificance:
    """CS_indiv of each case and the clinical/functional decisions Hageman & Arrindell draw."""

    cs_indiv: FloatArray
    clinical_pre: BoolArray
    functional_post: BoolArray
    clinical_post: BoolArray
    reliability_post: float


def individual_significance(
    pre: FloatArray,
    post: FloatArray,
    cutoff: TrueScoreCutoff,
    *,
    critical: float,
    higher_is_better: bool,
) -> IndividualSignificance:
    """CS_indiv = (M2 + (x2 - M2) r_post - cutoff) / (sqrt(r_post) SE), one-sided against ``critical``.

    A case clinical at pre (strictly on the dysfunctional side of the cutoff) is functional at
    post when d * CS_indiv > critical; one not clinical at pre is clinical at post when
    d * CS_indiv < -critical (Hageman & Arrindell 1999; the same rule as the R package).
    """
    m_post = float(np.mean(post))
    sd_post = float(np.std(post, ddof=1))
    r_post = reliability_from_error(sd_post, cutoff.se_measurement) if sd_post > 0 else math.nan
    if not (math.isfinite(r_post) and r_post > 0):
        raise ChangeError(
            "the post scores spread no more than the measurement error: CS_indiv is undefined "
            "(use ha_cutoff='observed')"
        )
    cs = (m_post + (post - m_post) * r_post - cutoff.value) / (
        math.sqrt(r_post) * cutoff.se_measurement
    )
    d = direction(higher_is_better)
    clinical_pre = d * pre < d * cutoff.value
    return IndividualSignificance(
        cs_indiv=cs,
        clinical_pre=clinical_pre,
        functional_post=clinical_pre & (d * cs > critical),
        clinical_post=~clinical_pre & (d * cs < -critical),
        reliability_post=r_post,
    )


def _norm(
    cutoff_type: str, m_functional: float | None, sd_functional: float | None
) -> tuple[float, float]:
    if m_functional is None or sd_functional is None:
        raise ChangeError(
            f"cutoff {cutoff_type} needs the functional norm (m_functional and sd_functional)"
        )
    return m_functional, sd_functional


def _b_sd(b_sd: str, sd_clinical: float, sd_functional: float) -> float:
    if b_sd == "functional":
        return sd_functional
    if b_sd == "clinical":
        return sd_clinical
    raise ChangeError(f"cutoff_b_sd must be one of {', '.join(CUTOFF_B_SDS)}, not {b_sd!r}")
