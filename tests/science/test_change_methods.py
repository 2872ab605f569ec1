"""The methods and options beyond Jacobson-Truax: hand computations, boundaries and invariants.

The tiny table of test_change.py (higher is better, reliability .84, functional norm M 30 SD 5):

    id  pre  post        pre mean 20, SD 5; post mean 22.6
    A   15   27          SE = 5 * sqrt(1 - .84) = 2; SE of prediction = 5 * sqrt(1 - .84^2)
    B   15    9             = 5 * sqrt(.2944) = 2.712932
    C   20   25
    D   25   19
    E   25   33
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.regression.mixed_linear_model import MixedLMParams

from alliance.science.change import (
    CATEGORIES,
    ChangeError,
    analyse_change,
    critical_value,
    fit_random_slopes,
    true_score_cutoff,
)
from tests.science.change_tables import analyse_pairs

SE_PREDICTION = 5 * math.sqrt(1 - 0.84**2)


def tiny_table(post: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client": list("ABCDE") * 2,
            "when": [1] * 5 + [2] * 5,
            "score": [15, 15, 20, 25, 25, *(post or [27, 9, 25, 19, 33])],
        }
    )


def analyse_tiny(frame: pd.DataFrame | None = None, **options: object):
    arguments: dict[str, object] = {
        "id_column": "client",
        "time_column": "when",
        "score_column": "score",
        "pre": 1,
        "post": 2,
        "reliability": 0.84,
    }
    arguments.update(options)
    return analyse_change(tiny_table() if frame is None else frame, **arguments)  # type: ignore[arg-type]


def rci_of(result, case: str) -> float:
    return float(result.per_case.set_index("id").loc[case, "rci"])


# --- critical values ------------------------------------------------------------------------------


def test_exact_critical_values_are_the_normal_quantiles():
    assert critical_value("jt") == pytest.approx(1.959963984540054, abs=1e-15)
    assert critical_value("ha") == pytest.approx(1.6448536269514722, abs=1e-15)
    assert critical_value("hlm") == critical_value("nk") == critical_value("jt")
    assert (critical_value("jt", "rounded"), critical_value("ha", "rounded")) == (1.96, 1.65)


def test_the_json_states_which_critical_value_was_used():
    exact = analyse_tiny().summary
    rounded = analyse_tiny(critical="rounded").summary
    assert (exact["critical"], rounded["critical"]) == ("exact", "rounded")
    assert exact["rc_threshold"] == pytest.approx(1.959963984540054 * math.sqrt(8))
    assert rounded["rc_threshold"] == pytest.approx(1.96 * math.sqrt(8))


def test_alpha_sets_the_significance_level_of_the_critical_value():
    summary = analyse_tiny(alpha=0.10).summary
    assert summary["alpha"] == 0.10
    assert summary["critical_value"] == pytest.approx(1.6448536269514722)
    assert analyse_tiny(method="ha", alpha=0.10).summary["critical_value"] == pytest.approx(
        1.2815515655446004
    )
    with pytest.raises(ChangeError, match="rounded critical values exist only for alpha .05"):
        analyse_tiny(alpha=0.10, critical="rounded")
    with pytest.raises(ChangeError, match="alpha must be strictly between 0 and 1"):
        analyse_tiny(alpha=1.5)


# --- the other indices by hand --------------------------------------------------------------------


def test_gln_regresses_the_pre_score_towards_the_pre_mean():
    result = analyse_tiny(method="gln")
    # A: ((27 - 20) - .84 (15 - 20)) / 2.712932 = 11.2 / 2.712932 = 4.128375
    assert rci_of(result, "A") == pytest.approx(11.2 / SE_PREDICTION)
    assert rci_of(result, "A") == pytest.approx(4.128375, abs=1e-6)
    # C: (5 - 0) / 2.712932 = 1.843024, not reliable; D: (-1 - 4.2) / 2.712932 = -1.916745
    assert rci_of(result, "C") == pytest.approx(1.843024, abs=1e-6)
    assert rci_of(result, "D") == pytest.approx(-1.916745, abs=1e-6)
    assert result.summary["se_prediction"] == pytest.approx(SE_PREDICTION)
    assert result.summary["categories"] == {"improved": 2, "unchanged": 2, "deteriorated": 1}


def test_hll_also_takes_the_post_mean_out():
    result = analyse_tiny(method="hll")
    # A: ((27 - 22.6) - .84 (15 - 20)) / 2.712932 = 8.6 / 2.712932 = 3.170002
    assert rci_of(result, "A") == pytest.approx(8.6 / SE_PREDICTION)
    assert rci_of(result, "A") == pytest.approx(3.170002, abs=1e-6)
    assert result.summary["m_post"] == pytest.approx(22.6)


def test_en_compares_post_with_the_estimated_true_pre_score():
    result = analyse_tiny(method="en")
    # A: true pre = .84 (15 - 20) + 20 = 15.8; (27 - 15.8) / SE 2 = 5.6
    assert rci_of(result, "A") == pytest.approx(5.6)
    # C: (25 - 20) / 2 = 2.5 > 1.96: reliable for EN, not for JT (5 / 2.828 = 1.77)
    assert rci_of(result, "C") == pytest.approx(2.5)
    assert result.per_case.set_index("id").loc["C", "category"] == "improved"
    assert result.summary["se_measurement"] == pytest.approx(2.0)


def test_nk_uses_the_post_reliability_and_defaults_it_to_the_pre_one():
    # denominator sqrt(.84^2 * 25 * .16 + 25 * (1 - r2))
    same = analyse_tiny(method="nk")
    assert same.summary["reliability_post"] == 0.84
    assert same.summary["nk_denominator"] == pytest.approx(math.sqrt(0.84**2 * 4 + 4))
    assert rci_of(same, "A") == pytest.approx(11.2 / math.sqrt(6.8224))
    lower = analyse_tiny(method="nk", reliability_post=0.5)
    assert lower.summary["nk_denominator"] == pytest.approx(math.sqrt(0.84**2 * 4 + 12.5))


# --- cutoffs: boundary, b, HA's true score --------------------------------------------------------


def test_a_post_score_exactly_on_the_cutoff_is_not_functional_by_default():
    # cutoff c = (5 * 30 + 5 * 20) / 10 = 25; A now ends exactly on it after +10 (reliable).
    frame = tiny_table(post=[25, 9, 25, 19, 33])
    norms = {"m_functional": 30, "sd_functional": 5}
    reference = analyse_tiny(frame, **norms).per_case.set_index("id")
    functional = analyse_tiny(frame, boundary="functional", **norms).per_case.set_index("id")
    assert reference.loc["A", "category"] == "improved"
    assert functional.loc["A", "category"] == "recovered"
    assert "post not functional" in reference.loc["A", "reason"]


def test_a_reliable_worsening_to_exactly_the_cutoff_is_harmed_by_default():
    # Lower is better; cutoff b = 15 + 2 * 5 = 25 exactly. P 10 -> 25 and S 40 -> 25 both end on
    # it after a change of 15 (threshold 1.96 * sqrt(2) * 12.91 * sqrt(.05) = 8.0: reliable).
    frame = pd.DataFrame(
        {
            "id": list("PQRS") * 2,
            "t": ["pre"] * 4 + ["post"] * 4,
            "x": [10, 20, 30, 40, 25, 20, 30, 25],
        }
    )
    options = {
        "id_column": "id", "time_column": "t", "score_column": "x", "pre": "pre", "post": "post",
        "reliability": 0.95, "m_functional": 15.0, "sd_functional": 5.0, "cutoff": "b",
        "higher_is_better": False,
    }  # fmt: skip
    reference = analyse_change(frame, **options)  # type: ignore[arg-type]
    functional = analyse_change(frame, boundary="functional", **options)  # type: ignore[arg-type]
    assert reference.summary["cutoff"] == functional.summary["cutoff"] == 25.0
    assert reference.summary["boundary"] == "reference"
    assert reference.per_case.set_index("id")["category"].to_dict() == {
        "P": "harmed",  # not clinical at pre, not functional (on the cutoff) at post
        "Q": "unchanged",
        "R": "unchanged",
        "S": "improved",  # clinical at pre, on the cutoff at post: not recovered
    }
    assert functional.per_case.set_index("id")["category"].to_dict() == {
        "P": "deteriorated",
        "Q": "unchanged",
        "R": "unchanged",
        "S": "recovered",
    }


def test_cutoff_b_uses_the_functional_sd_unless_asked_for_the_clinical_one():
    norms = {"m_functional": 30, "sd_functional": 4, "cutoff": "b"}
    # b = 30 - 2 * 4 = 22 (Jacobson & Truax); R: 30 - 2 * 5 = 20
    assert analyse_tiny(**norms).summary["cutoff"] == pytest.approx(22.0)
    assert analyse_tiny(cutoff_b_sd="clinical", **norms).summary["cutoff"] == pytest.approx(20.0)


def test_ha_true_score_cutoff_a_by_hand():
    # SE = 2, r_clinical = (25 - 4) / 25 = .84, true SD = 5 * sqrt(.84) = 4.582576
    cut = true_score_cutoff("a", m_clinical=20, sd_clinical=5, reliability=0.84)
    assert cut.value == pytest.approx(20 + 2 * 5 * math.sqrt(0.84))
    assert cut.reliability_clinical == pytest.approx(0.84)
    result = analyse_tiny(method="ha", approach="combined")
    summary = result.summary
    assert summary["cutoff_scale"] == "true" and summary["cutoff_type"] == "a"
    assert summary["cutoff"] == pytest.approx(29.165151, abs=1e-6)
    # r_post = (82.8 - 4) / 82.8; CS_indiv(E) = (22.6 + 10.4 r_post - a) / (sqrt(r_post) 2)
    r_post = 78.8 / 82.8
    cs = (22.6 + 10.4 * r_post - summary["cutoff"]) / (math.sqrt(r_post) * 2)
    cases = result.per_case.set_index("id")
    assert cases.loc["E", "cs_indiv"] == pytest.approx(cs)
    assert summary["reliability_post_cs"] == pytest.approx(r_post)


def test_the_statistical_approach_counts_by_the_cutoff_alone():
    # cutoff c = (5 * 30 + 5 * 20) / 10 = 25
    result = analyse_tiny(approach="statistical", m_functional=30, sd_functional=5)
    cases = result.per_case.set_index("id")
    # A: 15 -> 27 crosses (improved); C: 20 -> 25 ends on the cutoff (reference: not functional);
    # D: 25 -> 19 and E: 25 -> 33 start on it (not clinical); D ends clinical -> deteriorated.
    assert cases["category"].to_dict() == {
        "A": "improved",
        "B": "unchanged",
        "C": "unchanged",
        "D": "deteriorated",
        "E": "unchanged",
    }
    assert np.isnan(cases["rci"]).all()
    assert "critical_value" not in result.summary


def test_statistical_jt_needs_no_reliability():
    summary = analyse_tiny(approach="statistical", cutoff="a", reliability=None).summary
    assert summary["reliability"] is None and summary["cutoff"] == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "gln", "approach": "statistical", "cutoff": "a"}, "statistical approach"),
        ({"reliability": None}, "needs the reliability"),
        ({"reliability_post": 0.7}, "nk method only"),
        ({"method": "nk", "reliability_post": 1.2}, "reliability_post must be"),
        ({"approach": "distribution", "cutoff": "a"}, "statistical or the combined"),
        ({"method": "hlm"}, "give no pre or post"),
        ({"pre": None}, "needs the pre and post"),
        ({"critical": "loose"}, "critical must be one of exact, rounded"),
        ({"boundary": "x"}, "boundary must be one of"),
        ({"cutoff_b_sd": "x"}, "cutoff_b_sd must be one of"),
        ({"method": "ha", "ha_cutoff": "x"}, "ha_cutoff must be one of"),
        ({"approach": "sideways"}, "approach must be one of"),
    ],
)
def test_bad_options_of_the_new_methods_raise_one_clear_error(options, message):
    with pytest.raises(ChangeError, match=message):
        analyse_tiny(**options)


def test_ha_refuses_a_functional_sd_below_the_measurement_error():
    with pytest.raises(ChangeError, match="not larger than the measurement error"):
        analyse_tiny(method="ha", m_functional=30, sd_functional=1.5, cutoff="c")


# --- HLM ------------------------------------------------------------------------------------------


def growth_frame(seed: int = 3, patients: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for patient in range(patients):
        intercept = 30 + rng.normal(0, 5)
        slope = -2 + rng.normal(0, 1.5)
        for time in range(1, 5 + int(rng.integers(0, 2))):
            rows.append((f"p{patient}", time, intercept + slope * time + rng.normal(0, 2)))
    return pd.DataFrame(rows, columns=["id", "time", "score"])


def test_hlm_maximises_the_same_reml_likelihood_as_statsmodels_mixedlm():
    frame = growth_frame()
    fit = fit_random_slopes(frame["id"], frame["time"], frame["score"])
    exog = np.column_stack([np.ones(len(frame)), frame["time"].to_numpy(float)])
    model = sm.MixedLM(frame["score"].to_numpy(float), exog, groups=frame["id"], exog_re=exog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = model.fit(reml=True, method="lbfgs")
    ours = MixedLMParams.from_components(
        fe_params=np.array([fit.fixed_intercept, fit.fixed_slope]),
        cov_re=fit.covariance / fit.sigma2,
    )
    # The same criterion at our estimates, and statsmodels' own optimum is no better.
    assert model.loglike(ours, profile_fe=True) == pytest.approx(-fit.reml_criterion / 2, abs=1e-8)
    assert theirs.llf <= -fit.reml_criterion / 2 + 1e-8
    assert theirs.fe_params == pytest.approx([fit.fixed_intercept, fit.fixed_slope], abs=1e-3)


def test_hlm_uses_every_time_point_and_excludes_patients_with_fewer_than_three():
    frame = growth_frame()
    short = pd.DataFrame({"id": ["q1", "q1"], "time": [1, 2], "score": [30.0, 20.0]})
    result = analyse_change(
        pd.concat([frame, short]),
        id_column="id",
        time_column="time",
        score_column="score",
        method="hlm",
        higher_is_better=False,
    )
    summary = result.summary
    assert (summary["n_total"], summary["n_used"], summary["n_excluded"]) == (31, 30, 1)
    assert summary["hlm"]["n_rows"] == len(frame)
    assert summary["pre"] is None and summary["reliability"] is None
    cases = result.per_case
    assert set(cases.columns) >= {"n_scores", "slope_deviation", "conditional_sd", "reason"}
    assert cases["rci"].to_numpy() == pytest.approx(
        (cases["slope_deviation"] / cases["conditional_sd"]).to_numpy()
    )
    first = frame[frame["id"] == "p0"].sort_values("time")["score"]
    assert cases.set_index("id").loc["p0", "pre"] == first.iloc[0]
    assert cases.set_index("id").loc["p0", "post"] == first.iloc[-1]


def test_hlm_needs_no_spread_of_the_first_scores_unless_a_cutoff_uses_it():
    frame = growth_frame(patients=10)
    first = frame.groupby("id")["time"].transform("min") == frame["time"]
    frame.loc[first, "score"] = 30.0
    options = {"id_column": "id", "time_column": "time", "score_column": "score", "method": "hlm"}
    assert analyse_change(frame, **options).summary["n_used"] == 10  # type: ignore[arg-type]
    with pytest.raises(ChangeError, match="no spread"):
        analyse_change(frame, cutoff="a", **options)  # type: ignore[arg-type]


def test_hlm_refuses_text_time_points():
    frame = tiny_table().assign(when=["pre"] * 5 + ["post"] * 5)
    with pytest.raises(ChangeError, match="numeric time points"):
        analyse_tiny(frame, method="hlm", pre=None, post=None)


# --- invariants -----------------------------------------------------------------------------------

scores = st.integers(min_value=0, max_value=40)
pairs_strategy = st.lists(st.tuples(scores, scores), min_size=4, max_size=25)


def spread(pairs: list[tuple[int, int]]) -> bool:
    return len({p for p, _ in pairs}) > 1 and len({q for _, q in pairs}) > 1


@settings(max_examples=80, deadline=None)
@given(
    pairs=pairs_strategy.filter(spread),
    reliability=st.floats(min_value=0.05, max_value=0.95),
    method=st.sampled_from(["jt", "ha", "en", "gln", "hll", "nk"]),
    approach=st.sampled_from(["distribution", "statistical", "combined"]),
    cutoff=st.sampled_from(["a", "b", "c"]),
    m_functional=st.integers(min_value=0, max_value=40),
    boundary=st.sampled_from(["reference", "functional"]),
)
def test_flipping_direction_and_negating_scores_mirrors_every_method(
    pairs, reliability, method, approach, cutoff, m_functional, boundary
):
    if approach == "statistical" and method not in ("jt", "ha"):
        method = "jt"
    options = {
        "reliability": reliability,
        "method": method,
        "approach": approach,
        "sd_functional": 12.0,
        "boundary": boundary,
    }
    if approach != "distribution":
        options["cutoff"] = cutoff
    try:
        original = analyse_pairs(pairs, m_functional=m_functional, **options)
    except ChangeError:
        with pytest.raises(ChangeError):
            analyse_pairs(pairs, -1, higher_is_better=False, m_functional=-m_functional, **options)
        return
    mirrored = analyse_pairs(
        pairs, -1, higher_is_better=False, m_functional=-m_functional, **options
    )
    assert mirrored.per_case["category"].tolist() == original.per_case["category"].tolist()
    assert mirrored.summary["categories"] == original.summary["categories"]
    if approach != "statistical":
        assert mirrored.per_case["rci"].to_numpy() == pytest.approx(
            -original.per_case["rci"].to_numpy()
        )
    if "cutoff" in original.summary:
        assert mirrored.summary["cutoff"] == pytest.approx(-original.summary["cutoff"])


@settings(max_examples=60, deadline=None)
@given(
    pairs=pairs_strategy.filter(spread),
    reliability=st.floats(min_value=0.05, max_value=0.95),
    method=st.sampled_from(["jt", "ha", "en", "gln", "hll", "nk"]),
    cutoff=st.sampled_from(["a", "b", "c"]),
    m_functional=st.integers(min_value=0, max_value=40),
    higher_is_better=st.booleans(),
)
def test_combined_refines_the_distribution_categories_and_partitions_the_cases(
    pairs, reliability, method, cutoff, m_functional, higher_is_better
):
    common = {"reliability": reliability, "method": method, "higher_is_better": higher_is_better}
    try:
        distribution = analyse_pairs(pairs, approach="distribution", **common)
        combined = analyse_pairs(
            pairs, cutoff=cutoff, m_functional=m_functional, sd_functional=12.0, **common
        )
    except ChangeError:
        return
    assert combined.summary["approach"] == "combined"
    assert list(combined.summary["categories"]) == list(CATEGORIES)
    assert sum(combined.summary["categories"].values()) == len(pairs)
    coarse = combined.per_case["category"].replace(
        {"recovered": "improved", "harmed": "deteriorated"}
    )
    assert coarse.tolist() == distribution.per_case["category"].tolist()


@settings(max_examples=60, deadline=None)
@given(
    pairs=pairs_strategy.filter(spread),
    reliability=st.floats(min_value=0.05, max_value=0.95),
    method=st.sampled_from(["jt", "en", "gln", "hll", "nk"]),
)
def test_the_rounded_1_96_never_finds_more_reliable_change_than_the_exact_value(
    pairs, reliability, method
):
    exact = analyse_pairs(pairs, reliability=reliability, method=method).summary["categories"]
    rounded = analyse_pairs(
        pairs, reliability=reliability, method=method, critical="rounded"
    ).summary["categories"]
    assert rounded["unchanged"] >= exact["unchanged"]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_hlm_mirrors_under_a_direction_flip(seed):
    frame = growth_frame(seed, patients=12)
    options = {"id_column": "id", "time_column": "time", "score_column": "score", "method": "hlm"}
    original = analyse_change(frame, **options)  # type: ignore[arg-type]
    mirrored = analyse_change(
        frame.assign(score=-frame["score"]),
        higher_is_better=False,
        **options,  # type: ignore[arg-type]
    )
    assert mirrored.summary["categories"] == original.summary["categories"]
    assert mirrored.per_case["rci"].to_numpy() == pytest.approx(
        -original.per_case["rci"].to_numpy(), abs=1e-5
    )
