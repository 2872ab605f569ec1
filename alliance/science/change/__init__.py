"""Reliable and clinically significant change for any instrument and direction.

Methods: Jacobson-Truax (jt), Hageman-Arrindell (ha), Edwards-Nunnally (en),
Gulliksen-Lord-Novick (gln), Hsu-Linn-Lord (hll), Nunnally-Kotsch (nk) and the multilevel growth
model (hlm); approaches: distribution (reliable change), statistical (cutoff a/b/c) and combined.
Pure numpy/pandas/scipy so that it works from a notebook on any long (id, time, score) table;
docs/change.md gives the formulas, sources and the comparison with the R package
clinicalsignificance.

Modules: ``base`` (categories, critical values), ``rci`` (two-point indices), ``cutoffs``
(observed and true-score cutoffs), ``hlm`` (the growth model), ``table`` (reading the long table),
``analysis`` (``analyse_change``).
"""

from alliance.science.change.analysis import analyse_change
from alliance.science.change.base import (
    APPROACHES,
    BOUNDARIES,
    CATEGORIES,
    CRITICAL_RULES,
    CUTOFF_B_SDS,
    CUTOFF_TYPES,
    HA_CRITICAL_Z,
    HA_CUTOFFS,
    HA_HARMED_RULES,
    JT_CRITICAL_Z,
    METHODS,
    MISSING_GROUP,
    ChangeError,
    ChangeResult,
    CutoffType,
    Method,
    categorize,
    categorize_reliable,
    critical_value,
    is_clinical,
    is_functional,
    rc_threshold,
    standard_error,
)
from alliance.science.change.cutoffs import clinical_cutoff, true_score_cutoff
from alliance.science.change.hlm import fit_random_slopes, random_slopes_at
from alliance.science.change.table import normalise_group, normalise_time

__all__ = [
    "APPROACHES",
    "BOUNDARIES",
    "CATEGORIES",
    "CRITICAL_RULES",
    "CUTOFF_B_SDS",
    "CUTOFF_TYPES",
    "HA_CRITICAL_Z",
    "HA_CUTOFFS",
    "HA_HARMED_RULES",
    "JT_CRITICAL_Z",
    "METHODS",
    "MISSING_GROUP",
    "ChangeError",
    "ChangeResult",
    "CutoffType",
    "Method",
    "analyse_change",
    "categorize",
    "categorize_reliable",
    "clinical_cutoff",
    "critical_value",
    "fit_random_slopes",
    "is_clinical",
    "is_functional",
    "normalise_group",
    "normalise_time",
    "random_slopes_at",
    "rc_threshold",
    "standard_error",
    "true_score_cutoff",
]
