"""Change statistics: Jacobson-Truax, Hageman-Arrindell, cutoffs and categories.

The tiny table used throughout (higher is better, reliability .84, functional norm M 30 SD 5):

    id  pre  post  change
    A   15   27    +12
    B   15    9     -6
    C   20   25     +5
    D   25   19     -6
    E   25   33     +8

pre mean 20, deviations -5 -5 0 5 5, sum of squares 100, SD = sqrt(100 / 4) = 5.
SE = 5 * sqrt(1 - .84) = 5 * .4 = 2; S_diff = sqrt(2 * 2^2) = sqrt(8) = 2.828427;
JT threshold = 1.96 * 2.828427 = 5.543717. Cutoff c = (5 * 30 + 5 * 20) / (5 + 5) = 25.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.science.change import (
    CATEGORIES,
    ChangeError,
    analyse_change,
    categorize,
    clinical_cutoff,
    normalise_time,
    rc_threshold,
)
from tests.science.change_tables import analyse_pairs as analyse_shared

LEGACY = {"critical": "rounded", "boundary": "functional", "ha_cutoff": "observed"}
SQRT8 = math.sqrt(8.0)
JT_THRESHOLD = 1.96 * SQRT8  # 5.543717


def tiny_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client": list("ABCDE") * 2,
            "when": [1] * 5 + [2] * 5,
            "score": [15, 15, 20, 25, 25, 27, 9, 25, 19, 33],
        }
    )


def analyse_tiny(frame: pd.DataFrame | None = None, **options: object):
    settings_ = {
        "id_column": "client",
        "time_column": "when",
        "score_column": "score",
        "pre": 1,
        "post": 2,
        "reliability": 0.84,
        # Alliance's rules before the R reference became the default, which these hand
        # computations use: 1.96 / 1.65, a score on the cutoff is functional, HA with JT's cutoff.
        **LEGACY,
    }
    settings_.update(options)
    return analyse_change(tiny_table() if frame is None else frame, **settings_)  # type: ignore[arg-type]


# --- rc_threshold ----------------------------------------------------------------------------------


def test_rc_threshold_matches_the_domain_brief_check_sd_7_5_r_80():
    # 1.96 * sqrt(2) * 7.5 * sqrt(.2) = 1.96 * 4.743416 = 9.297096; the brief's 9.2969 comes from
    # rounded intermediate values, so compare to 3 decimals and to the exact value.
    assert rc_threshold(7.5, 0.80) == pytest.approx(9.2969, abs=5e-4)
    assert rc_threshold(7.5, 0.80) == pytest.approx(9.297096, abs=1e-6)


def test_rc_threshold_for_sd_5_and_r_84_is_1_96_times_sqrt_8():
    assert rc_threshold(5.0, 0.84) == pytest.approx(5.543717, abs=1e-6)


def test_rc_threshold_uses_the_given_critical_value():
    # 1.65 * sqrt(8) = 4.666905
    assert rc_threshold(5.0, 0.84, z=1.65) == pytest.approx(4.666905, abs=1e-6)


@pytest.mark.parametrize("reliability", [0.0, 1.0, 1.5, -0.2, math.nan])
def test_it_rejects_reliability_outside_0_1(reliability):
    with pytest.raises(ValueError, match="reliability must be strictly between 0 and 1"):
        rc_threshold(7.5, reliability)


def test_it_rejects_a_negative_sd():
    with pytest.raises(ValueError, match="sd_pre"):
        rc_threshold(-1.0, 0.8)


# --- categorize -----------------------------------------------------------------------------------


def test_categorize_without_cutoff_knows_only_improved_unchanged_deteriorated():
    result = categorize([10, 10, 10, 10], [16, 4, 15, 5], 5.5)
    assert result.tolist() == ["improved", "deteriorated", "unchanged", "unchanged"]


def test_a_change_exactly_equal_to_the_threshold_is_not_reliable():
    # d * RCI must be strictly greater than z
    assert categorize([10, 10], [15, 5], 5.0).tolist() == ["unchanged", "unchanged"]


def test_categorize_with_cutoff_gives_all_five_categories_higher_is_better():
    pre = [15, 15, 15, 25, 25, 20]
    post = [27, 22, 9, 19, 33, 24]
    result = categorize(pre, post, JT_THRESHOLD, cutoff=25.0)
    assert result.tolist() == [
        "recovered",  # clinical (15 < 25) -> functional, +12 reliable
        "improved",  # +7 reliable but 22 is still clinical
        "deteriorated",  # -6 reliable, was clinical already
        "harmed",  # 25 exactly on the cutoff counts as functional, 19 clinical, -6 reliable
        "improved",  # +8 reliable but already functional at pre
        "unchanged",  # +4 is not reliable
    ]


def test_categorize_lower_is_better_mirrors_the_direction():
    # Lower is better, cutoff 10: clinical means strictly above 10.
    pre = [20, 10, 14, 8]
    post = [10, 18, 20, 2]
    result = categorize(pre, post, 5.0, higher_is_better=False, cutoff=10.0)
    assert result.tolist() == [
        "recovered",  # 20 -> 10: -10 is better, 10 exactly on the cutoff is functional
        "harmed",  # 10 (functional) -> 18 (clinical), +8 worse
        "deteriorated",  # 14 -> 20, +6 worse, was clinical already
        "improved",  # 8 -> 2, -6 better, functional all along
    ]


def test_categorize_rejects_missing_scores_and_mismatched_shapes():
    with pytest.raises(ValueError, match="finite"):
        categorize([1.0, math.nan], [2.0, 3.0], 1.0)
    with pytest.raises(ValueError, match="same shape"):
        categorize([1.0, 2.0], [2.0], 1.0)


# --- cutoffs --------------------------------------------------------------------------------------


def test_cutoffs_a_b_c_by_hand_when_higher_is_better():
    norms = {"m_clinical": 20.0, "sd_clinical": 5.0, "m_functional": 30.0, "sd_functional": 4.0}
    assert clinical_cutoff("a", **norms) == pytest.approx(30.0)  # 20 + 2 * 5
    assert clinical_cutoff("b", **norms) == pytest.approx(22.0)  # 30 - 2 * 4
    # (5 * 30 + 4 * 20) / (5 + 4) = 230 / 9
    assert clinical_cutoff("c", **norms) == pytest.approx(230 / 9)


def test_cutoffs_a_and_b_move_the_other_way_when_lower_is_better():
    norms = {"m_clinical": 30.0, "sd_clinical": 8.0, "m_functional": 8.0, "sd_functional": 6.0}
    assert clinical_cutoff("a", **norms, higher_is_better=False) == pytest.approx(14.0)
    assert clinical_cutoff("b", **norms, higher_is_better=False) == pytest.approx(20.0)
    # (8 * 8 + 6 * 30) / 14 = 244 / 14
    assert clinical_cutoff("c", **norms, higher_is_better=False) == pytest.approx(244 / 14)


def test_cutoff_c_needs_the_functional_norm():
    with pytest.raises(ChangeError, match="functional norm"):
        clinical_cutoff("c", m_clinical=20.0, sd_clinical=5.0)


# --- analyse_change, Jacobson-Truax ---------------------------------------------------------------


def test_analyse_change_on_the_tiny_table_jt_by_hand():
    result = analyse_tiny(m_functional=30, sd_functional=5)
    summary = result.summary
    assert summary["n_total"] == 5 and summary["n_used"] == 5 and summary["n_excluded"] == 0
    assert summary["method"] == "jt"
    assert summary["sd_pre"] == pytest.approx(5.0)
    assert summary["rc_threshold"] == pytest.approx(5.543717, abs=1e-6)
    assert summary["cutoff_type"] == "c"  # the default when norms are given
    assert summary["cutoff"] == pytest.approx(25.0)
    assert summary["m_clinical"] == pytest.approx(20.0)
    assert summary["sd_clinical"] == pytest.approx(5.0)
    assert summary["categories"] == {
        "recovered": 1,
        "improved": 1,
        "unchanged": 1,
        "deteriorated": 1,
        "harmed": 1,
    }
    cases = result.per_case.set_index("id")
    assert cases["category"].to_dict() == {
        "A": "recovered",
        "B": "deteriorated",
        "C": "unchanged",
        "D": "harmed",
        "E": "improved",
    }
    # RCI = change / sqrt(8): 12 / 2.828427 = 4.242641, -6 / 2.828427 = -2.121320
    assert cases.loc["A", "rci"] == pytest.approx(4.242641, abs=1e-6)
    assert cases.loc["D", "rci"] == pytest.approx(-2.121320, abs=1e-6)
    assert cases.loc["E", "change"] == 8


def test_without_norms_there_is_no_cutoff_and_no_recovered_or_harmed():
    summary = analyse_tiny().summary
    assert "cutoff" not in summary and "m_clinical" not in summary
    # A +12 and E +8 improved, B and D -6 deteriorated, C +5 unchanged
    assert summary["categories"] == {"improved": 2, "unchanged": 1, "deteriorated": 2}


def test_cutoff_a_needs_only_the_clinical_sample():
    # a = 20 + 2 * 5 = 30: only E (25 -> 33) crosses it, and reliably.
    summary = analyse_tiny(cutoff="a").summary
    assert summary["cutoff"] == pytest.approx(30.0)
    assert summary["categories"]["recovered"] == 1


def test_cases_missing_pre_or_post_are_excluded_and_counted():
    extra = pd.DataFrame(
        {
            "client": ["F", "G", "H", "H"],
            "when": [1, 2, 1, 2],
            "score": [20, 30, None, 28],
        }
    )
    summary = analyse_tiny(pd.concat([tiny_table(), extra])).summary
    assert (summary["n_total"], summary["n_used"], summary["n_excluded"]) == (8, 5, 3)
    assert summary["sd_pre"] == pytest.approx(5.0)  # F's lone pre score is not used


def test_time_points_match_as_normalised_text():
    frame = tiny_table().assign(when=["1"] * 5 + ["2.0"] * 5)
    summary = analyse_tiny(frame, pre=1.0, post="2").summary
    assert summary["n_used"] == 5 and (summary["pre"], summary["post"]) == ("1", "2")
    text = tiny_table().assign(when=["Pre"] * 5 + ["post "] * 5)
    assert analyse_tiny(text, pre="pre", post="POST").summary["n_used"] == 5


def test_normalise_time_examples():
    assert [normalise_time(v) for v in (1, 1.0, "1", " 1.0 ", "2.5", "Pre", None, "")] == [
        "1",
        "1",
        "1",
        "1",
        "2.5",
        "pre",
        None,
        None,
    ]


def test_by_counts_categories_per_group_with_the_sample_threshold():
    frame = tiny_table().assign(arm=["x", "x", "y", "y", "y"] * 2)
    summary = analyse_tiny(frame, by="arm", m_functional=30, sd_functional=5).summary
    groups = summary["groups"]
    assert groups["x"]["categories"] == {
        "recovered": 1,
        "improved": 0,
        "unchanged": 0,
        "deteriorated": 1,
        "harmed": 0,
    }
    assert groups["y"]["n_used"] == 3
    assert groups["y"]["rc_threshold"] == summary["rc_threshold"]
    assert groups["y"]["categories"]["harmed"] == 1


# --- analyse_change, Hageman-Arrindell ------------------------------------------------------------


def test_analyse_change_on_the_tiny_table_ha_by_hand():
    # post mean 113 / 5 = 22.6; post deviations 4.4 -13.6 2.4 -3.6 10.4, squares sum 331.2,
    # SD_post^2 = 82.8; covariance = (-22 + 68 + 0 - 18 + 52) / 4 = 20.
    # r_pre = (25 - 4) / 25 = .84; r_post = (82.8 - 4) / 82.8; so SD2^2 r_post = 78.8.
    # r_dd = (21 + 78.8 - 2 * 20) / (25 + 82.8 - 2 * 20) = 59.8 / 67.8 = .882006
    r_dd = 59.8 / 67.8
    result = analyse_tiny(method="ha", m_functional=30, sd_functional=5)
    summary = result.summary
    assert summary["r_dd"] == pytest.approx(r_dd)
    assert summary["r12"] == pytest.approx(20 / (5 * math.sqrt(82.8)))
    assert summary["critical_value"] == 1.65

    def rci_ha(change: float) -> float:
        return (change * r_dd + 2.6 * (1 - r_dd)) / (math.sqrt(r_dd) * SQRT8)

    cases = result.per_case.set_index("id")
    for case, change in {"A": 12, "B": -6, "C": 5, "D": -6, "E": 8}.items():
        assert cases.loc[case, "rci"] == pytest.approx(rci_ha(change))
    # C: (5 * .882006 + 2.6 * .117994) / (.939152 * 2.828427) = 1.7757 > 1.65, and 25 is on the
    # cutoff (functional): recovered under HA although JT calls it unchanged.
    assert cases.loc["C", "rci"] == pytest.approx(1.7757, abs=1e-4)
    assert cases["category"].to_dict() == {
        "A": "recovered",
        "B": "deteriorated",  # -1.8767 < -1.65
        "C": "recovered",
        "D": "harmed",
        "E": "improved",
    }
    # Raw change at which RCI_HA = 1.65: (1.65 sqrt(r_dd) sqrt(8) - 2.6 (1 - r_dd)) / r_dd
    expected = (1.65 * math.sqrt(r_dd) * SQRT8 - 2.6 * (1 - r_dd)) / r_dd
    assert summary["rc_threshold"] == pytest.approx(expected)
    assert summary["rc_threshold"] == pytest.approx(4.62145, abs=1e-5)
    assert rci_ha(summary["rc_threshold"]) == pytest.approx(1.65)
    assert rci_ha(-summary["rc_threshold_deterioration"]) == pytest.approx(-1.65)


def test_ha_refuses_data_whose_difference_reliability_is_not_positive():
    # Post scores equal the pre scores plus a constant: the differences carry no true variance.
    frame = tiny_table().assign(score=[15, 15, 20, 25, 25, 16, 16, 21, 26, 26])
    with pytest.raises(ChangeError, match="Hageman-Arrindell method does not apply"):
        analyse_tiny(frame, method="ha")


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"id_column": "nope"}, "unknown id column 'nope'"),
        ({"score_column": "bdi"}, "unknown score column 'bdi'"),
        ({"by": "arm"}, "unknown by column 'arm'"),
        ({"pre": "1.0", "post": 1}, "pre and post are the same time point"),
        ({"post": 9}, "no rows with time 9 in column 'when'"),
        ({"reliability": 1.0}, "reliability must be strictly between 0 and 1"),
        ({"method": "xx"}, "method must be one of jt, ha"),
        ({"cutoff": "c"}, "cutoff c needs the functional norm"),
        ({"cutoff": "d"}, "cutoff must be one of a, b, c"),
        ({"m_functional": 30}, "give both m_functional and sd_functional"),
        ({"m_functional": 30, "sd_functional": 0}, "sd_functional must be a positive number"),
    ],
)
def test_bad_options_raise_one_clear_error(options, message):
    with pytest.raises(ChangeError, match=message):
        analyse_tiny(**options)


def test_several_rows_for_one_id_and_time_name_the_id():
    frame = pd.concat([tiny_table(), pd.DataFrame({"client": ["C"], "when": [1.0], "score": [3]})])
    with pytest.raises(ChangeError, match="id C has several rows at time 1"):
        analyse_tiny(frame)


def test_a_non_numeric_score_names_the_row():
    frame = tiny_table().astype({"score": object})
    frame.loc[3, "score"] = "n/a?"
    with pytest.raises(ChangeError, match=r"row 5: the score column 'score' must be a number"):
        analyse_tiny(frame)


def test_it_needs_two_complete_cases():
    frame = tiny_table().iloc[[0, 5]]
    with pytest.raises(ChangeError, match="at least 2 cases"):
        analyse_tiny(frame)


# --- properties -----------------------------------------------------------------------------------

scores = st.integers(min_value=0, max_value=40)
cases = st.lists(st.tuples(scores, scores), min_size=3, max_size=25)


def analyse_pairs(pairs, sign=1, **options):
    return analyse_shared(pairs, sign, **{**LEGACY, **options})


def spread(pairs: list[tuple[int, int]]) -> bool:
    return len({p for p, _ in pairs}) > 1


@settings(max_examples=60, deadline=None)
@given(
    pairs=cases.filter(spread),
    reliability=st.floats(min_value=0.05, max_value=0.95),
    higher_is_better=st.booleans(),
    m_functional=st.floats(min_value=0, max_value=40),
)
def test_categories_partition_the_used_cases_by_their_definitions(
    pairs, reliability, higher_is_better, m_functional
):
    result = analyse_pairs(
        pairs,
        reliability=reliability,
        higher_is_better=higher_is_better,
        m_functional=m_functional,
        sd_functional=5.0,
    )
    summary = result.summary
    assert sum(summary["categories"].values()) == summary["n_used"] == len(pairs)
    assert list(summary["categories"]) == list(CATEGORIES)
    d = 1 if higher_is_better else -1
    cases = result.per_case
    gain = d * (cases["post"] - cases["pre"]).to_numpy()
    better, worse = gain > summary["rc_threshold"], gain < -summary["rc_threshold"]
    clinical_pre = (d * (cases["pre"] - summary["cutoff"]) < 0).to_numpy()
    clinical_post = (d * (cases["post"] - summary["cutoff"]) < 0).to_numpy()
    definitions = {
        "recovered": better & clinical_pre & ~clinical_post,
        "improved": better & ~(clinical_pre & ~clinical_post),
        "unchanged": ~better & ~worse,
        "deteriorated": worse & ~(~clinical_pre & clinical_post),
        "harmed": worse & ~clinical_pre & clinical_post,
    }
    matches = np.column_stack([definitions[name] for name in CATEGORIES])
    assert (matches.sum(axis=1) == 1).all()  # every case fits exactly one definition
    fitted = np.array(CATEGORIES)[matches.argmax(axis=1)]
    assert (fitted == cases["category"].to_numpy()).all()


@settings(max_examples=60, deadline=None)
@given(
    pairs=cases.filter(spread),
    reliability=st.floats(min_value=0.05, max_value=0.95),
    method=st.sampled_from(["jt", "ha"]),
    m_functional=st.integers(min_value=0, max_value=40),
)
def test_flipping_direction_and_negating_scores_mirrors_the_result(
    pairs, reliability, method, m_functional
):
    options = {"reliability": reliability, "method": method, "sd_functional": 6.0}
    try:
        original = analyse_pairs(pairs, m_functional=m_functional, **options)
    except ChangeError:
        # HA refuses some samples; then the mirror must refuse too.
        with pytest.raises(ChangeError):
            analyse_pairs(
                pairs, sign=-1, higher_is_better=False, m_functional=-m_functional, **options
            )
        return
    mirrored = analyse_pairs(
        pairs, sign=-1, higher_is_better=False, m_functional=-m_functional, **options
    )
    assert mirrored.summary["categories"] == original.summary["categories"]
    assert mirrored.per_case["category"].tolist() == original.per_case["category"].tolist()
    assert mirrored.summary["rc_threshold"] == pytest.approx(original.summary["rc_threshold"])
    assert mirrored.summary["cutoff"] == pytest.approx(-original.summary["cutoff"])


@settings(max_examples=60, deadline=None)
@given(pairs=cases.filter(spread), reliability=st.floats(min_value=0.01, max_value=0.99))
def test_the_jt_threshold_is_1_96_sd_sqrt_2_1_minus_r(pairs, reliability):
    summary = analyse_pairs(pairs, reliability=reliability).summary
    sd = float(np.std([p for p, _ in pairs], ddof=1))
    assert summary["rc_threshold"] == pytest.approx(1.96 * sd * math.sqrt(2 * (1 - reliability)))
