"""Therapist effects: REML variance components, ICC interval, shrunken estimates and labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from alliance.cli import main
from alliance.science.simulate import simulate
from alliance.science.therapists import (
    TherapistEffectsError,
    shrinkage_factor,
    therapist_effects,
)


def episodes_with_therapist_variance(
    caseloads: np.ndarray, tau: float, sigma: float, seed: int
) -> pd.DataFrame:
    """Episode outcomes: final = 10 + 0.6 intake + therapist effect + noise."""
    rng = np.random.default_rng(seed)
    therapist = np.repeat(np.arange(caseloads.size), caseloads)
    effects = rng.normal(0.0, tau, caseloads.size)
    intake = rng.normal(19.0, 7.0, therapist.size)
    final = 10.0 + 0.6 * intake + effects[therapist] + rng.normal(0.0, sigma, therapist.size)
    return pd.DataFrame(
        {
            "therapist_id": [f"T{t:03d}" for t in therapist],
            "intake": intake,
            "final": final,
            "n_scores": 4,
        }
    )


def test_variance_components_and_blups_equal_statsmodels_mixedlm_reml() -> None:
    episodes = episodes_with_therapist_variance(
        np.random.default_rng(1).integers(3, 30, 40), tau=1.5, sigma=5.0, seed=2
    )
    result = therapist_effects(episodes, higher_is_better=True)
    reference = smf.mixedlm("final ~ intake", episodes, groups=episodes["therapist_id"]).fit(
        reml=True
    )
    assert result.var_therapist == pytest.approx(float(reference.cov_re.iloc[0, 0]), rel=1e-3)
    assert result.var_residual == pytest.approx(float(reference.scale), rel=1e-4)
    assert result.intake_coefficient == pytest.approx(
        float(reference.fe_params["intake"]), rel=1e-5
    )
    blups = {key: float(value.iloc[0]) for key, value in reference.random_effects.items()}
    ours = dict(
        zip(result.per_therapist["therapist_id"], result.per_therapist["effect"], strict=True)
    )
    for therapist, value in blups.items():
        assert ours[therapist] == pytest.approx(value, abs=1e-3)


def test_the_icc_interval_covers_the_true_value_in_most_replications() -> None:
    tau2, sigma2 = 2.25, 25.0
    true_icc = tau2 / (tau2 + sigma2)  # 0.0826
    covered = 0
    for seed in range(40):
        caseloads = np.random.default_rng(100 + seed).integers(5, 35, 30)
        episodes = episodes_with_therapist_variance(caseloads, tau2**0.5, sigma2**0.5, seed)
        result = therapist_effects(episodes, higher_is_better=True)
        assert result.icc_low <= result.icc <= result.icc_high
        covered += result.icc_low <= true_icc <= result.icc_high
    # A 95% interval should miss about 2 of 40; 34 or fewer would indicate a broken interval.
    assert covered >= 35


def test_the_shrinkage_on_a_balanced_example_matches_the_anova_hand_computation() -> None:
    # Three therapists, four episodes each, the same four intakes for each therapist, so the
    # REML estimates equal the ANOVA ones: sigma^2 = MSW, tau^2 = (MSB - MSW) / n.
    intakes = [10.0, 20.0, 30.0, 40.0]
    finals = {
        "A": [12.0, 16.0, 23.0, 27.0],
        "B": [17.0, 18.0, 26.0, 31.0],
        "C": [20.0, 26.0, 29.0, 35.0],
    }
    rows = [
        {"therapist_id": t, "intake": x, "final": y, "n_scores": 3}
        for t, ys in finals.items()
        for x, y in zip(intakes, ys, strict=True)
    ]
    y = np.array(list(finals.values()))
    x = np.array(intakes)
    slope = np.sum((y - y.mean(axis=1, keepdims=True)) * (x - x.mean())) / (
        3 * np.sum((x - x.mean()) ** 2)
    )
    within = y - y.mean(axis=1, keepdims=True) - slope * (x - x.mean())
    msw = np.sum(within**2) / (12 - 3 - 1)
    msb = 4 * np.sum((y.mean(axis=1) - y.mean()) ** 2) / 2
    tau2 = (msb - msw) / 4
    result = therapist_effects(pd.DataFrame(rows), higher_is_better=True)
    assert result.var_residual == pytest.approx(msw, rel=1e-6)
    assert result.var_therapist == pytest.approx(tau2, rel=1e-5)
    factor = tau2 / (tau2 + msw / 4)
    table = result.per_therapist.set_index("therapist_id")
    assert np.allclose(table["shrinkage"], factor, rtol=1e-5)
    expected_effects = factor * (y.mean(axis=1) - y.mean())
    assert np.allclose(table["effect"], expected_effects, rtol=1e-5)


def test_small_caseloads_are_shrunk_more_toward_the_average() -> None:
    episodes = episodes_with_therapist_variance(
        np.array([2, 5, 10, 40, 80] * 6), tau=2.0, sigma=5.0, seed=7
    )
    table = therapist_effects(episodes, higher_is_better=True).per_therapist
    by_size = table.groupby("n_episodes")["shrinkage"].mean()
    assert by_size.is_monotonic_increasing and by_size.iloc[0] < by_size.iloc[-1]
    assert (table["effect"].abs() <= table["raw_effect"].abs() + 1e-12).all()


def test_shrinkage_factor_is_tau2_over_tau2_plus_sigma2_over_n() -> None:
    # tau^2 = 2, sigma^2 = 18: n = 1 -> 2 / 20 = 0.1; n = 9 -> 2 / 4 = 0.5; n = 81 -> 2 / 2.222 = 0.9.
    assert np.allclose(shrinkage_factor(2.0, 18.0, [1, 9, 81]), [0.1, 0.5, 0.9])


def test_therapists_are_labelled_only_when_their_interval_excludes_the_average() -> None:
    episodes = episodes_with_therapist_variance(np.full(20, 60), tau=3.0, sigma=5.0, seed=9)
    table = therapist_effects(episodes, higher_is_better=True).per_therapist
    assert set(table["label"]) <= {"above", "below", "average"}
    assert ((table["label"] == "above") == (table["low"] > 0)).all()
    assert ((table["label"] == "below") == (table["high"] < 0)).all()
    assert (table["label"] != "average").sum() >= 5  # real differences are found
    assert list(table["therapist_id"]) == sorted(table["therapist_id"])  # never a league table


def test_without_therapist_variance_nobody_is_called_above_or_below() -> None:
    rows = []
    for t in range(10):
        for j, x in enumerate([10.0, 15.0, 20.0, 25.0]):
            # Identical caseloads: therapists differ by exactly nothing.
            rows.append({"therapist_id": f"T{t}", "intake": x, "final": x + [3, -1, 2, -4][j]})
    result = therapist_effects(pd.DataFrame(rows), higher_is_better=True)
    assert result.var_therapist == 0.0 and result.icc_low == 0.0
    assert set(result.per_therapist["label"]) == {"average"}


def test_for_lower_is_better_scales_a_therapist_with_lower_finals_is_above_average() -> None:
    episodes = episodes_with_therapist_variance(np.full(10, 50), tau=0.5, sigma=3.0, seed=4)
    episodes.loc[episodes["therapist_id"] == "T000", "final"] -= 6.0
    table = therapist_effects(episodes, higher_is_better=False).per_therapist
    assert table.loc[table["therapist_id"] == "T000", "label"].item() == "above"


def test_one_therapist_is_a_clear_error() -> None:
    episodes = episodes_with_therapist_variance(np.array([30]), tau=1.0, sigma=5.0, seed=1)
    with pytest.raises(TherapistEffectsError, match="at least 2 therapists; the data have 1"):
        therapist_effects(episodes, higher_is_better=True)


def test_one_episode_per_therapist_is_a_clear_error() -> None:
    episodes = episodes_with_therapist_variance(np.ones(30, dtype=int), tau=1.0, sigma=5.0, seed=1)
    with pytest.raises(TherapistEffectsError, match="every therapist has only one episode"):
        therapist_effects(episodes, higher_is_better=True)


def test_it_works_from_the_administrations_table_using_closed_episodes() -> None:
    table = simulate(3000, 30, seed=5)
    result = therapist_effects(table, "ors")
    ors = (table["instrument"] == "ors") & (table["rater"] == "client")
    closed = table[ors & table["ending"].notna()]
    counts = closed.groupby("episode_id").size()
    assert result.n_episodes == int((counts >= 2).sum())
    assert 0.0 <= result.icc_low < result.icc < result.icc_high < 0.3


def test_therapists_cli_prints_json_with_the_icc_interval_and_labels(tmp_path, capsys) -> None:
    path = tmp_path / "admin.csv"
    simulate(1500, 15, seed=6).to_csv(path, index=False)
    assert main(["therapists", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_therapists"] == 15 and len(out["therapists"]) == 15
    low, high = out["icc_interval"]
    assert low <= out["icc"] <= high
    assert {"therapist_id", "n_episodes", "effect", "low", "high", "label"} <= set(
        out["therapists"][0]
    )


def test_therapists_cli_with_one_therapist_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "admin.csv"
    simulate(200, 1, seed=6).to_csv(path, index=False)
    assert main(["therapists", str(path)]) == 2
    assert "at least 2 therapists" in capsys.readouterr().err


def test_the_icc_is_the_same_to_the_last_bit_whatever_the_row_order_and_the_ids():
    from alliance.science.simulate import simulate

    frame = simulate(600, 8, seed=21)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    renamed = shuffled.assign(
        therapist_id=shuffled["therapist_id"].map(lambda t: f"Z{99 - int(t[1:])}"),
        episode_id=shuffled["episode_id"].map(lambda e: f"X{e[::-1]}"),
    )
    first, second = therapist_effects(frame), therapist_effects(renamed)
    assert (first.icc, first.icc_low, first.icc_high) == (
        second.icc,
        second.icc_low,
        second.icc_high,
    )
    assert first.intercept == second.intercept and first.var_residual == second.var_residual
