"""``analyse_change``: every method and approach on one long (id, time, score) table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.change import hlm as growth
from alliance.science.change.base import (
    ALPHA,
    APPROACHES,
    BOUNDARIES,
    CATEGORIES,
    CRITICAL_RULES,
    CUTOFF_B_SDS,
    CUTOFF_TYPES,
    HA_CUTOFFS,
    HA_HARMED_RULES,
    METHODS,
    BoolArray,
    ChangeError,
    ChangeResult,
    FloatArray,
    combine,
    critical_value,
    direction,
    is_clinical,
    is_functional,
)
from alliance.science.change.cutoffs import (
    clinical_cutoff,
    individual_significance,
    true_score_cutoff,
)
from alliance.science.change.rci import (
    ReliableChange,
    edwards_nunnally,
    gulliksen_lord_novick,
    hageman_arrindell,
    hsu_linn_lord,
    jacobson_truax,
    nunnally_kotsch,
)
from alliance.science.change.table import growth_table, paired_table, time_points

_PAIRED = {
    "jt": jacobson_truax,
    "gln": gulliksen_lord_novick,
    "hll": hsu_linn_lord,
    "en": edwards_nunnally,
    "ha": hageman_arrindell,
}
# Methods whose statistical approach (cutoff alone) is defined: JT's observed-score cutoffs and
# Hageman & Arrindell's true-score cutoffs with CS_indiv. The other methods share JT's.
_STATISTICAL = ("jt", "ha")
_FIRST = ("id", "pre", "post", "change")
_THREE = tuple(name for name in CATEGORIES if name not in ("recovered", "harmed"))


@dataclass(frozen=True)
class _Options:
    method: str
    approach: str
    cutoff_type: str | None
    reliability: float | None
    reliability_post: float | None
    critical_rule: str
    boundary: str
    cutoff_b_sd: str
    ha_cutoff: str
    ha_harmed: str

    @property
    def true_score(self) -> bool:
        return self.method == "ha" and self.ha_cutoff == "true"


@dataclass(frozen=True)
class _CutoffDecision:
    clinical_pre: BoolArray
    functional_post: BoolArray
    clinical_post: BoolArray | None
    cs_indiv: FloatArray | None
    summary: dict[str, Any]


def analyse_change(
    frame: pd.DataFrame,
    *,
    id_column: str,
    time_column: str,
    score_column: str,
    pre: object = None,
    post: object = None,
    reliability: float | None = None,
    higher_is_better: bool = True,
    method: str = "jt",
    m_functional: float | None = None,
    sd_functional: float | None = None,
    cutoff: str | None = None,
    by: str | None = None,
    approach: str | None = None,
    reliability_post: float | None = None,
    critical: str = "exact",
    boundary: str = "reference",
    cutoff_b_sd: str = "functional",
    ha_cutoff: str = "true",
    ha_harmed: str = "reference",
    alpha: float = ALPHA,
) -> ChangeResult:
    """Reliable and clinically significant change on a long table (one row per id and time).

    ``method`` is jt, ha, en, gln, hll, nk (two time points ``pre``/``post``, compared as
    normalised text so ``1``, ``"1"`` and ``1.0`` match) or hlm (every time point, numeric).
    ``approach`` is distribution (reliable change only), statistical (cutoff only) or combined;
    by default combined when a cutoff or a functional norm is given, else distribution. The
    cutoff defaults to c with a norm, else a. Cases missing a score are excluded and counted.
    ``critical`` exact (default, normal quantiles) or rounded (1.96 / 1.65); ``boundary``
    reference (a post score exactly on the cutoff is not functional, as in R) or functional;
    ``cutoff_b_sd`` functional (Jacobson & Truax) or clinical (the R package); ``ha_cutoff`` true
    (Hageman & Arrindell's true-score cutoff and CS_indiv) or observed (JT's cutoff with HA's
    RCI, Alliance's rule before 2026-11); ``ha_harmed`` reference (R: not clinical at pre and
    reliably worse) or clinical-post (also clinical at post by CS_indiv). ``alpha`` is the
    significance level of the critical value (.05; the rounded values exist only there). With ``by`` the
    categories are also counted per group; every parameter stays that of the whole sample.
    docs/change.md gives the formulas, sources and the comparison with R.
    """
    _check_columns(frame, id_column, time_column, score_column, by)
    options = _options(
        method,
        approach,
        cutoff,
        m_functional,
        sd_functional,
        reliability,
        reliability_post,
        critical,
        boundary,
        cutoff_b_sd,
        ha_cutoff,
        ha_harmed,
    )
    # Two-sided for every method but HA's one-sided test, as in the R package.
    z = critical_value(options.method, options.critical_rule, alpha)
    summary: dict[str, Any] = {
        "method": options.method,
        "approach": options.approach,
        "reliability": options.reliability,
        "higher_is_better": higher_is_better,
    }
    if options.method == "hlm":
        if pre is not None or post is not None:
            raise ChangeError("the hlm method uses every time point: give no pre or post")
        wide, long = growth_table(
            frame, id_column, time_column, score_column, by, growth.MIN_SCORES
        )
        used = wide.loc[wide["n_scores"] >= growth.MIN_SCORES]
        summary.update(pre=None, post=None, min_scores=growth.MIN_SCORES)
    else:
        if pre is None or post is None:
            raise ChangeError(f"the {options.method} method needs the pre and post time points")
        pre_key, post_key = time_points(pre, post)
        wide = paired_table(frame, id_column, time_column, score_column, pre_key, post_key, by)
        used = wide.dropna(subset=["pre", "post"])
        summary.update(pre=pre_key, post=post_key)
        long = None
    if len(used) < 2:
        where = "with 3 or more scores" if long is not None else "with scores at both time points"
        raise ChangeError(f"need at least 2 cases {where}, found {len(used)}")
    pre_scores = used["pre"].to_numpy(dtype=np.float64)
    post_scores = used["post"].to_numpy(dtype=np.float64)
    sd_pre = float(np.std(pre_scores, ddof=1))
    # Every two-point index and every cutoff scales by the pre SD; the growth model alone does not.
    if sd_pre == 0 and (long is None or options.cutoff_type is not None):
        raise ChangeError("the pre scores of the used cases have no spread (SD 0)")
    summary["sd_pre"] = sd_pre

    columns: dict[str, Any] = {
        "id": used.index.to_numpy(),
        "pre": pre_scores,
        "post": post_scores,
        "change": post_scores - pre_scores,
    }
    change: ReliableChange | None = None
    if options.approach != "statistical":
        summary.update(critical=options.critical_rule, critical_value=z, alpha=alpha)
        if long is not None:
            change, extra = _growth_change(used, long, z, higher_is_better)
            columns.update(extra)
        else:
            change = _paired_change(options, pre_scores, post_scores, z, higher_is_better)
        summary.update(change.parameters)
    decision = None
    if options.cutoff_type is not None:
        decision = _cutoff_decision(
            options, pre_scores, post_scores, z, higher_is_better, m_functional, sd_functional
        )
        summary.update(decision.summary)
        if "critical_value" in decision.summary:
            summary["alpha"] = alpha
        if decision.cs_indiv is not None:
            columns["cs_indiv"] = decision.cs_indiv
        if change is not None and options.true_score:
            summary["group_level"] = _ha_group_level(
                pre_scores, post_scores, change, decision, higher_is_better
            )
    categories = _categories(options, change, decision)
    per_case = pd.DataFrame(
        {
            **{key: columns[key] for key in ("id", "pre", "post", "change")},
            "rci": change.rci if change is not None else np.full(len(used), np.nan),
            "category": categories,
            "reason": _reasons(options, change, decision, z, higher_is_better, summary),
            **{key: value for key, value in columns.items() if key not in _FIRST},
        }
    )
    if by is not None:
        per_case["group"] = used["group"].to_numpy()
    names = CATEGORIES if options.approach == "combined" else _THREE
    summary = {**_counts(wide, per_case, names), **summary}
    if by is not None:
        summary["groups"] = {
            group: {**_counts(wide.loc[wide["group"] == group], cases, names), **_shared(summary)}
            for group, cases in _groups(wide, per_case)
        }
    return ChangeResult(summary=summary, per_case=per_case)


# --- options --------------------------------------------------------------------------------------


def _check_columns(
    frame: pd.DataFrame, id_column: str, time_column: str, score_column: str, by: str | None
) -> None:
    named = {"id": id_column, "time": time_column, "score": score_column, "by": by}
    for option, column in named.items():
        if column is not None and column not in frame.columns:
            raise ChangeError(
                f"unknown {option} column {column!r} (columns: {', '.join(map(str, frame.columns))})"
            )


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ChangeError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def _options(
    method: str,
    approach: str | None,
    cutoff: str | None,
    m_functional: float | None,
    sd_functional: float | None,
    reliability: float | None,
    reliability_post: float | None,
    critical: str,
    boundary: str,
    cutoff_b_sd: str,
    ha_cutoff: str,
    ha_harmed: str,
) -> _Options:
    method = _choice("method", method, METHODS)
    if (m_functional is None) != (sd_functional is None):
        raise ChangeError("give both m_functional and sd_functional, or neither")
    if sd_functional is not None and not (math.isfinite(sd_functional) and sd_functional > 0):
        raise ChangeError(f"sd_functional must be a positive number, not {sd_functional!r}")
    if m_functional is not None and not math.isfinite(m_functional):
        raise ChangeError(f"m_functional must be a finite number, not {m_functional!r}")
    if cutoff is not None:
        _choice("cutoff", cutoff, CUTOFF_TYPES)
    if approach is None:
        approach = "combined" if cutoff is not None or m_functional is not None else "distribution"
    approach = _choice("approach", approach, APPROACHES)
    if approach == "distribution":
        if cutoff is not None:
            raise ChangeError(f"cutoff {cutoff} needs the statistical or the combined approach")
        cutoff_type = None
    else:
        # Jacobson & Truax recommend c when a functional norm is available; a needs none.
        cutoff_type = cutoff or ("c" if m_functional is not None else "a")
        if cutoff_type in ("b", "c") and m_functional is None:
            raise ChangeError(
                f"cutoff {cutoff_type} needs the functional norm (m_functional and sd_functional)"
            )
    if approach == "statistical" and method not in _STATISTICAL:
        raise ChangeError(
            f"the statistical approach is defined for {' and '.join(_STATISTICAL)} only "
            f"(every other method uses jt's cutoff): use method jt"
        )
    needs_reliability = method != "hlm" and not (approach == "statistical" and method == "jt")
    if reliability is not None and not (math.isfinite(reliability) and 0 < reliability < 1):
        raise ChangeError(f"reliability must be strictly between 0 and 1, not {reliability!r}")
    if needs_reliability and reliability is None:
        raise ChangeError(f"the {method} method needs the reliability")
    if reliability_post is not None:
        if method != "nk":
            raise ChangeError("reliability_post is used by the nk method only")
        if not (math.isfinite(reliability_post) and 0 < reliability_post < 1):
            raise ChangeError(
                f"reliability_post must be strictly between 0 and 1, not {reliability_post!r}"
            )
    if method == "nk" and reliability_post is None:
        reliability_post = reliability
    return _Options(
        method=method,
        approach=approach,
        cutoff_type=cutoff_type,
        reliability=None if reliability is None else float(reliability),
        reliability_post=reliability_post,
        critical_rule=_choice("critical", critical, CRITICAL_RULES),
        boundary=_choice("boundary", boundary, BOUNDARIES),
        cutoff_b_sd=_choice("cutoff_b_sd", cutoff_b_sd, CUTOFF_B_SDS),
        ha_cutoff=_choice("ha_cutoff", ha_cutoff, HA_CUTOFFS),
        ha_harmed=_choice("ha_harmed", ha_harmed, HA_HARMED_RULES),
    )


# --- reliable change ------------------------------------------------------------------------------


def _paired_change(
    options: _Options, pre: FloatArray, post: FloatArray, z: float, higher_is_better: bool
) -> ReliableChange:
    assert options.reliability is not None  # checked by _options
    if options.method == "nk":
        assert options.reliability_post is not None
        return nunnally_kotsch(
            pre, post, options.reliability, z, higher_is_better, options.reliability_post
        )
    return _PAIRED[options.method](pre, post, options.reliability, z, higher_is_better)


def _growth_change(
    used: pd.DataFrame, long: pd.DataFrame, z: float, higher_is_better: bool
) -> tuple[ReliableChange, dict[str, Any]]:
    fit = growth.fit_random_slopes(long["id"], long["time"], long["score"])
    order = pd.Index(fit.ids).get_indexer(used.index.astype(str))
    rci = fit.z[order]
    better = direction(higher_is_better) * rci
    parameters = {
        "hlm": {
            "model": "score ~ time + (time | id), REML",
            "fixed_intercept": fit.fixed_intercept,
            "fixed_slope": fit.fixed_slope,
            "var_intercept": float(fit.covariance[0, 0]),
            "var_slope": float(fit.covariance[1, 1]),
            "cov_intercept_slope": float(fit.covariance[0, 1]),
            "var_residual": fit.sigma2,
            "reml_criterion": fit.reml_criterion,
            "singular": fit.singular,
            "n_rows": len(long),
        }
    }
    extra = {
        "n_scores": used["n_scores"].to_numpy(),
        "slope_deviation": fit.slope_deviation[order],
        "conditional_sd": fit.conditional_sd[order],
    }
    return ReliableChange(rci, better > z, better < -z, parameters), extra


# --- cutoffs --------------------------------------------------------------------------------------


def _cutoff_decision(
    options: _Options,
    pre: FloatArray,
    post: FloatArray,
    z: float,
    higher_is_better: bool,
    m_functional: float | None,
    sd_functional: float | None,
) -> _CutoffDecision:
    assert options.cutoff_type is not None
    m_clinical = float(np.mean(pre))
    sd_clinical = float(np.std(pre, ddof=1))
    summary: dict[str, Any] = {
        "cutoff_type": options.cutoff_type,
        "m_clinical": m_clinical,
        "sd_clinical": sd_clinical,
        "m_functional": None if m_functional is None else float(m_functional),
        "sd_functional": None if sd_functional is None else float(sd_functional),
    }
    if options.cutoff_type == "b":
        summary["cutoff_b_sd"] = options.cutoff_b_sd
    if options.true_score:
        assert options.reliability is not None
        true_cut = true_score_cutoff(
            options.cutoff_type,
            m_clinical=m_clinical,
            sd_clinical=sd_clinical,
            reliability=options.reliability,
            m_functional=m_functional,
            sd_functional=sd_functional,
            higher_is_better=higher_is_better,
            b_sd=options.cutoff_b_sd,
        )
        significance = individual_significance(
            pre, post, true_cut, critical=z, higher_is_better=higher_is_better
        )
        summary.update(
            cutoff=true_cut.value,
            cutoff_scale="true",
            critical=options.critical_rule,
            critical_value=z,
            se_measurement=true_cut.se_measurement,
            reliability_clinical=true_cut.reliability_clinical,
            reliability_functional=true_cut.reliability_functional,
            reliability_post_cs=significance.reliability_post,
        )
        if options.approach == "combined":
            summary["ha_harmed"] = options.ha_harmed
        return _CutoffDecision(
            significance.clinical_pre,
            significance.functional_post,
            significance.clinical_post,
            significance.cs_indiv,
            summary,
        )
    value = clinical_cutoff(
        options.cutoff_type,
        m_clinical=m_clinical,
        sd_clinical=sd_clinical,
        m_functional=m_functional,
        sd_functional=sd_functional,
        higher_is_better=higher_is_better,
        b_sd=options.cutoff_b_sd,
    )
    summary.update(cutoff=value, cutoff_scale="observed", boundary=options.boundary)
    return _CutoffDecision(
        is_clinical(pre, value, higher_is_better=higher_is_better),
        is_functional(post, value, higher_is_better=higher_is_better, boundary=options.boundary),
        None,
        None,
        summary,
    )


def _ha_group_level(
    pre: FloatArray,
    post: FloatArray,
    change: ReliableChange,
    decision: _CutoffDecision,
    higher_is_better: bool,
) -> dict[str, float]:
    """Hageman & Arrindell's group-level estimates: share of true change and of true functioning."""
    r_dd = change.parameters["r_dd"]
    r_post = decision.summary["reliability_post_cs"]
    differences = post - pre
    z_changed = -float(np.mean(differences)) / (
        float(np.std(differences, ddof=1)) * math.sqrt(r_dd)
    )
    z_functional = (decision.summary["cutoff"] - float(np.mean(post))) / (
        float(np.std(post, ddof=1)) * math.sqrt(r_post)
    )
    normal = NormalDist()
    if higher_is_better:
        return {"changed": 1 - normal.cdf(z_changed), "functional": 1 - normal.cdf(z_functional)}
    return {"changed": normal.cdf(z_changed), "functional": normal.cdf(z_functional)}


# --- categories and their reasons -----------------------------------------------------------------


def _categories(
    options: _Options, change: ReliableChange | None, decision: _CutoffDecision | None
) -> npt.NDArray[np.str_]:
    if options.approach == "distribution":
        assert change is not None
        return combine(change.reliably_better, change.reliably_worse, None, None)
    assert decision is not None
    if options.approach == "statistical":
        if decision.clinical_post is not None:
            improved, worse = decision.functional_post, decision.clinical_post
        else:
            improved = decision.clinical_pre & decision.functional_post
            worse = ~decision.clinical_pre & ~decision.functional_post
        return combine(improved, worse, None, None)
    assert change is not None
    clinical_post = decision.clinical_post if options.ha_harmed == "clinical-post" else None
    return combine(
        change.reliably_better,
        change.reliably_worse,
        decision.clinical_pre,
        decision.functional_post,
        clinical_post,
    )


def _reasons(
    options: _Options,
    change: ReliableChange | None,
    decision: _CutoffDecision | None,
    z: float,
    higher_is_better: bool,
    summary: dict[str, Any],
) -> list[str]:
    parts: list[list[str]] = []
    if change is not None:
        label = "z(slope)" if options.method == "hlm" else "RCI"
        better_word = "higher" if higher_is_better else "lower"
        parts.append(
            [
                f"{label} {rci:+.3f}: "
                + (
                    f"reliably better (beyond {z:.4g} towards {better_word})"
                    if good
                    else f"reliably worse (beyond {z:.4g} away from {better_word})"
                    if bad
                    else f"not reliable (within {z:.4g})"
                )
                for rci, good, bad in zip(
                    change.rci, change.reliably_better, change.reliably_worse, strict=True
                )
            ]
        )
    if decision is not None:
        cut = summary["cutoff"]
        scale = "true-score " if decision.cs_indiv is not None else ""
        pre_words = [
            f"pre {'clinical' if c else 'not clinical'} ({scale}cutoff {cut:.4g})"
            for c in decision.clinical_pre
        ]
        if decision.cs_indiv is not None and decision.clinical_post is not None:
            post_words = [
                f"CS_indiv {cs:+.3f}: "
                + ("functional at post" if f else "clinical at post" if c else "neither")
                for cs, f, c in zip(
                    decision.cs_indiv,
                    decision.functional_post,
                    decision.clinical_post,
                    strict=True,
                )
            ]
        else:
            post_words = [
                f"post {'functional' if f else 'not functional'}" for f in decision.functional_post
            ]
        parts.append([f"{a}, {b}" for a, b in zip(pre_words, post_words, strict=True)])
    return ["; ".join(items) for items in zip(*parts, strict=True)]


# --- counting -------------------------------------------------------------------------------------


def _counts(wide: pd.DataFrame, per_case: pd.DataFrame, names: tuple[str, ...]) -> dict[str, Any]:
    found = per_case["category"].value_counts()
    return {
        "n_total": len(wide),
        "n_used": len(per_case),
        "n_excluded": len(wide) - len(per_case),
        "categories": {name: int(found.get(name, 0)) for name in names},
    }


def _shared(summary: dict[str, Any]) -> dict[str, Any]:
    """The sample-wide parameters repeated in each group's object."""
    counted = ("n_total", "n_used", "n_excluded", "categories", "groups")
    return {key: value for key, value in summary.items() if key not in counted}


def _groups(wide: pd.DataFrame, per_case: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [
        (group, per_case.loc[per_case["group"] == group])
        for group in sorted(wide["group"].unique())
    ]
