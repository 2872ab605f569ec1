"""Expected treatment response: fit, trajectories, percentiles, success probability, calibration."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.cli import main
from alliance.science import etr
from alliance.science.simulate import simulate

ORS_SCALE = {"score_range": (0.0, 40.0), "reliable_change": 5.0, "higher_is_better": True}


def hand_model(**changes: object) -> etr.EtrModel:
    """A model with round parameters whose outputs are worked out by hand in the tests."""
    values: dict[str, object] = {
        "name": "hand",
        "instrument": "ors",
        "parameters": etr.EtrParameters(
            slope_at_centre=3.0,
            intake_slope=-0.25,
            intake_centre=20.0,
            var_intercept=4.0,
            cov_intercept_slope=0.0,
            var_slope=1.0,
            var_residual=4.0,
        ),
        "score_min": 0.0,
        "score_max": 40.0,
        "higher_is_better": True,
        "reliable_change": 5.0,
        "final_sessions": {4: 1.0},
        "n_episodes": 1000,
        "n_administrations": 6000,
        "fitted_on": "2026-01-01",
        "provenance": "hand-made for tests",
        "provisional": False,
    }
    values.update(changes)
    return etr.EtrModel(**values)  # type: ignore[arg-type]


def known_process(
    n_episodes: int,
    seed: int,
    *,
    slope: float = 3.0,
    intake_slope: float = -0.25,
    g: tuple[float, float, float] = (4.0, 0.5, 2.25),
    sigma2: float = 6.25,
) -> pd.DataFrame:
    """Administrations drawn from the ETR model itself with hand-chosen parameters (centre 20)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 13, n_episodes)
    intake = rng.normal(20.0, 5.0, n_episodes)
    effects = rng.multivariate_normal([0, 0], [[g[0], g[1]], [g[1], g[2]]], n_episodes)
    episode = np.repeat(np.arange(n_episodes), lengths)
    session = np.concatenate([np.arange(1, n + 1) for n in lengths])
    log_k = np.log(session)
    x = intake[episode]
    mean_change = (slope + intake_slope * (x - 20.0)) * log_k
    noise = effects[episode, 0] + effects[episode, 1] * log_k
    noise += rng.normal(0, math.sqrt(sigma2), episode.size)
    score = np.where(session == 1, x, x + mean_change + noise)
    return pd.DataFrame(
        {
            "client_id": [f"C{e}" for e in episode],
            "episode_id": [f"E{e:06d}" for e in episode],
            "therapist_id": "T1",
            "session_number": session,
            "session_date": "2025-01-06",
            "instrument": "ors",
            "rater": "client",
            "total": score,
        }
    )


@pytest.fixture(scope="module")
def simulated_model() -> etr.EtrModel:
    return etr.fit(simulate(6000, 60, seed=11), instrument="ors")


# ----- fitting ---------------------------------------------------------------------------


def test_it_recovers_hand_chosen_parameters_from_data_generated_by_the_model() -> None:
    data = known_process(20000, seed=5)
    unbounded = {**ORS_SCALE, "score_range": (-1000.0, 1000.0)}
    model = etr.fit(data, **unbounded)  # type: ignore[arg-type]
    p = model.parameters
    intake_at_20 = p.slope_at_centre + p.intake_slope * (20.0 - p.intake_centre)
    assert intake_at_20 == pytest.approx(3.0, abs=0.08)
    assert p.intake_slope == pytest.approx(-0.25, abs=0.02)
    assert p.var_residual == pytest.approx(6.25, rel=0.05)
    assert p.var_slope == pytest.approx(2.25, abs=0.6)
    assert p.var_intercept == pytest.approx(4.0, abs=1.2)
    # The predictive spread, which drives the percentile lines, is pinned down much more tightly.
    for k in (2, 4, 8, 12):
        lk = math.log(k)
        true_var = 4.0 + 2 * 0.5 * lk + 2.25 * lk**2 + 6.25
        assert float(model.predictive_sd(k)) == pytest.approx(math.sqrt(true_var), rel=0.04)


def test_it_refuses_to_fit_below_the_minimum_number_of_closed_episodes() -> None:
    data = known_process(150, seed=1)
    with pytest.raises(etr.EtrError, match=r"150 closed ORS episode\(s\).*at least 200"):
        etr.fit(data, **ORS_SCALE)  # type: ignore[arg-type]


def test_it_fits_only_closed_episodes_with_two_or_more_scores() -> None:
    data = known_process(300, seed=2)
    data["ending"] = pd.Series(pd.NA, index=data.index, dtype="string")
    last_rows = data.groupby("episode_id").tail(1).index
    data.loc[last_rows[:250], "ending"] = "planned"
    single = (
        data[data["session_number"] == 1].head(1).assign(episode_id="E-single", ending="planned")
    )
    model = etr.fit(pd.concat([data, single]), min_episodes=10, **ORS_SCALE)  # type: ignore[arg-type]
    assert model.n_episodes == 250


def test_a_table_without_the_instrument_is_too_little_data_not_a_crash() -> None:
    with pytest.raises(etr.EtrError, match="0 closed PHQ9 episode"):
        etr.fit(known_process(300, seed=3), instrument="phq9")


def test_it_rejects_a_negative_percentile_outside_0_50() -> None:
    with pytest.raises(etr.EtrError, match="negative percentile must be between 0 and 50"):
        etr.fit(known_process(300, seed=3), negative_percentile=60, **ORS_SCALE)  # type: ignore[arg-type]


# ----- trajectories ------------------------------------------------------------------------


def test_target_and_negative_lines_match_hand_computed_values() -> None:
    model = hand_model()
    # intake 16: f = 3 + 0.25 * 4 = 4; log 4 = 1.386294 -> target 16 + 5.545177 = 21.545177.
    # variance 4 + 1 * 1.386294^2 + 4 = 9.921812, SD 3.149891; z(25%) = -0.674490
    # -> negative 21.545177 - 2.124569 = 19.420608.
    assert float(model.target_scores(16, 4)) == pytest.approx(21.545177, abs=1e-5)
    assert float(model.negative_scores(16, 4)) == pytest.approx(19.420608, abs=1e-5)


def test_session_one_equals_the_intake() -> None:
    model = hand_model()
    intakes = np.array([0.0, 7.5, 20.0, 33.0, 40.0])
    assert np.array_equal(model.target_scores(intakes, 1), intakes)
    assert np.array_equal(model.negative_scores(intakes, 1), intakes)


def test_trajectories_broadcast_over_intakes_and_sessions() -> None:
    model = hand_model()
    grid = model.target_scores(np.array([[10.0], [20.0]]), np.arange(1, 6))
    assert grid.shape == (2, 5)
    assert grid[1, 3] == pytest.approx(float(model.target_scores(20.0, 4)))


def test_target_lies_at_or_above_negative_and_both_stay_in_range(
    simulated_model: etr.EtrModel,
) -> None:
    intakes = np.arange(0.0, 40.5, 0.5)[:, None]
    sessions = np.arange(1, 21)[None, :]
    target = simulated_model.target_scores(intakes, sessions)
    negative = simulated_model.negative_scores(intakes, sessions)
    assert (target >= negative).all()
    assert target.min() >= 0.0 and target.max() <= 40.0
    assert negative.min() >= 0.0


def test_a_higher_intake_never_gives_a_lower_target_or_negative_line(
    simulated_model: etr.EtrModel,
) -> None:
    intakes = np.arange(0.0, 40.5, 0.5)[:, None]
    sessions = np.arange(1, 21)[None, :]
    assert (np.diff(simulated_model.target_scores(intakes, sessions), axis=0) >= 0).all()
    assert (np.diff(simulated_model.negative_scores(intakes, sessions), axis=0) >= 0).all()


def test_lower_intakes_are_expected_to_gain_more_as_in_the_simulated_data(
    simulated_model: etr.EtrModel,
) -> None:
    gain_low = simulated_model.target_scores(10, 8) - 10
    gain_high = simulated_model.target_scores(30, 8) - 30
    assert gain_low > gain_high + 3


def test_for_lower_is_better_scales_the_negative_line_lies_above_the_target() -> None:
    model = hand_model(higher_is_better=False, score_max=1000.0)
    assert float(model.negative_scores(16, 4)) == pytest.approx(21.545177 + 2.124569, abs=1e-5)


def test_predict_covers_sessions_one_to_n() -> None:
    trajectory = hand_model().predict(20, 12)
    assert list(trajectory.sessions) == list(range(1, 13))
    assert trajectory.target[0] == 20 and trajectory.negative[0] == 20
    assert trajectory.target.shape == trajectory.negative.shape == (12,)


def test_it_rejects_an_intake_outside_the_instrument_range() -> None:
    with pytest.raises(etr.EtrError, match="intake must be between 0 and 40 for ORS, not 41"):
        hand_model().predict(41, 5)


# ----- percentile and success probability --------------------------------------------------


def test_the_percentile_of_the_target_and_negative_lines_are_50_and_25() -> None:
    model = hand_model()
    for session in (2, 4, 9):
        assert model.percentile(16, session, float(model.target_scores(16, session))) == (
            pytest.approx(50.0, abs=1e-6)
        )
        assert model.percentile(16, session, float(model.negative_scores(16, session))) == (
            pytest.approx(25.0, abs=1e-6)
        )


def test_the_percentile_one_sd_above_the_target_is_84_1() -> None:
    model = hand_model()
    assert model.percentile(16, 4, 21.545177 + 3.149891) == pytest.approx(84.134, abs=0.01)


def test_success_probability_without_later_scores_matches_the_hand_computation() -> None:
    # Expected change at session 4 for intake 16: 5.545177, SD 3.149891;
    # P(change >= 5) = Phi(0.545177 / 3.149891) = Phi(0.173080) = 0.568705.
    assert hand_model().success_probability(16, []) == pytest.approx(0.568705, abs=1e-5)


def test_success_probability_updates_the_slope_from_a_later_score_as_worked_by_hand() -> None:
    params = etr.EtrParameters(3.0, -0.25, 20.0, 0.0, 0.0, 1.0, 4.0)
    model = hand_model(parameters=params)
    # Only a random slope b ~ N(0, 1). Score 24 at session 2 for intake 16: expected 16 + 4 log 2,
    # residual r = 8 - 2.772589 = 5.227411. Posterior of b: precision 1 + log2^2 / 4 = 1.120113,
    # mean (log2 * r / 4) / 1.120113 = 0.808705, variance 1 / 1.120113 = 0.892767.
    # Final at session 4: mean change 5.545177 + 1.386294 * 0.808705 = 6.666281,
    # variance 1.386294^2 * 0.892767 + 4 = 5.715730; P = Phi(1.666281 / 2.390759) = 0.757088.
    assert model.success_probability(16, [(1, 16), (2, 24)]) == pytest.approx(0.757088, abs=1e-5)


def test_success_probability_is_zero_when_reliable_improvement_cannot_fit_under_the_ceiling() -> (
    None
):
    assert hand_model().success_probability(36, [(2, 40)]) == 0.0


def test_an_episode_already_at_its_last_possible_session_is_decided_by_its_score() -> None:
    model = hand_model(final_sessions={3: 1.0})
    assert model.success_probability(16, [(2, 18), (3, 21)]) == 1.0
    assert model.success_probability(16, [(2, 18), (3, 20)]) == 0.0


@settings(max_examples=40, deadline=None)
@given(
    intake=st.floats(0, 34),
    score=st.floats(0, 39),
    better=st.floats(0.5, 10),
    session=st.integers(2, 12),
)
def test_success_probability_is_a_probability_and_higher_for_better_scores(
    intake: float, score: float, better: float, session: int
) -> None:
    model = hand_model(final_sessions=dict.fromkeys(range(2, 21), 1.0 / 19))
    worse_p = model.success_probability(intake, [(session, score)])
    better_p = model.success_probability(intake, [(session, min(score + better, 40.0))])
    assert 0.0 <= worse_p <= 1.0 and 0.0 <= better_p <= 1.0
    assert better_p >= worse_p


# ----- model files ------------------------------------------------------------------------


def test_a_saved_model_loads_back_with_identical_predictions(tmp_path, simulated_model) -> None:
    path = tmp_path / "model.json"
    simulated_model.save(path)
    loaded = etr.load_model(path)
    assert loaded.to_dict() == simulated_model.to_dict()
    sessions = np.arange(1, 15)
    assert np.array_equal(
        loaded.negative_scores(17.5, sessions), simulated_model.negative_scores(17.5, sessions)
    )
    stored = json.loads(path.read_text())
    for key in ("parameters", "method", "percentiles", "instrument", "n_episodes"):
        assert key in stored
    for key in ("n_administrations", "fitted_on", "provenance", "provisional"):
        assert key in stored


@pytest.mark.parametrize(
    ("edit", "field", "message"),
    [
        (lambda d: d["parameters"].pop("var_slope"), "parameters.var_slope", "missing"),
        (lambda d: d.update(provisional="yes"), "provisional", "true or false"),
        (lambda d: d["parameters"].update(var_residual=-1), "parameters.var_residual", "above 0"),
        (lambda d: d.update(score_range=[40, 0]), "score_range", "minimum, maximum"),
        (lambda d: d.update(format="other"), "format", "alliance-etr"),
    ],
)
def test_a_malformed_model_file_names_the_file_and_the_field(
    tmp_path, edit, field, message
) -> None:
    data = hand_model().to_dict()
    edit(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    with pytest.raises(etr.ModelFileError, match=message) as caught:
        etr.load_model(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value) and field in str(caught.value)


def test_a_model_file_that_is_not_json_says_so(tmp_path) -> None:
    path = tmp_path / "model.json"
    path.write_text("{not json")
    with pytest.raises(etr.ModelFileError, match="not valid JSON"):
        etr.load_model(path)


def test_the_shipped_default_model_is_provisional_and_says_how_it_was_made() -> None:
    model = etr.default_model("ors")
    assert model.provisional
    assert model.provenance.startswith(
        f"Provisional default: fitted on {model.n_episodes} synthetic"
    )
    assert (
        "alliance simulate" in model.provenance
        and "not clinical reference data" in model.provenance
    )
    assert model.instrument == "ors" and model.score_max == 40.0 and model.reliable_change == 5.0


def test_there_is_no_default_model_for_an_unfitted_instrument() -> None:
    with pytest.raises(etr.EtrError, match="no default ETR model for instrument 'gad7'"):
        etr.default_model("gad7")


# ----- calibration -------------------------------------------------------------------------


def test_auc_is_one_for_perfect_separation_zero_when_reversed_and_half_for_ties() -> None:
    assert etr.auc([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == 1.0
    assert etr.auc([0.9, 0.8, 0.2, 0.1], [False, False, True, True]) == 0.0
    assert etr.auc([0.5, 0.5, 0.5, 0.5], [False, True, False, True]) == 0.5
    # Pairs (positive, negative): (.35,.1) yes, (.35,.4) no, (.8,.1) yes, (.8,.4) yes -> 3/4.
    assert etr.auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert etr.auc([0.1, 0.2], [True, True]) is None


def test_sensitivity_and_specificity_match_a_hand_count() -> None:
    flagged = [True, True, False, False, True]
    positive = [True, False, True, False, True]
    # Positives 1, 3, 5: flagged 1 and 5 -> 2/3. Negatives 2, 4: unflagged 4 -> 1/2.
    assert etr.sensitivity_specificity(flagged, positive) == (pytest.approx(2 / 3), 0.5)


def _episode(episode_id: str, scores: dict[int, float]) -> list[dict[str, object]]:
    return [
        {
            "client_id": episode_id,
            "episode_id": episode_id,
            "therapist_id": "T1",
            "session_number": k,
            "session_date": "2025-01-06",
            "instrument": "ors",
            "rater": "client",
            "total": y,
        }
        for k, y in scores.items()
    ]


def test_calibrate_counts_red_at_sessions_3_4_against_poor_outcomes_on_a_hand_made_table() -> None:
    model = hand_model()
    # Intake 20: negative line at session 3 is 21.25, at session 4 22.03; RC 5 -> 25 needed.
    rows = (
        _episode("A", {1: 20, 3: 10, 5: 20})  # red, poor
        + _episode("B", {1: 20, 3: 30, 5: 30})  # not red, improved
        + _episode("C", {1: 20, 4: 12, 5: 30})  # red, improved
        + _episode("D", {1: 20, 3: 30, 6: 21})  # not red, poor
        + _episode("E", {1: 20, 3: 10})  # ends in the window: not counted for the signal
    )
    result = etr.calibrate(pd.DataFrame(rows), model)
    red = result["red_signal"]
    assert (red["n"], red["n_poor"], red["n_red"]) == (4, 2, 2)
    assert red["sensitivity"] == 0.5 and red["specificity"] == 0.5
    assert red["auc_red"] == 0.5
    # E's final score is its session-3 score, one of the inputs of the session-3 prediction:
    # it is left out of the success calibration too (it once counted, grading the model on itself).
    assert result["n_episodes"] == 5 and result["success"]["n"] == 4


def test_success_probabilities_are_calibrated_on_held_out_simulated_episodes(
    simulated_model: etr.EtrModel,
) -> None:
    held_out = simulate(4000, 40, seed=12)
    result = etr.calibrate(held_out, simulated_model)
    success = result["success"]
    assert abs(success["mean_predicted"] - success["observed_rate"]) < 0.04
    worst = max(abs(d["mean_predicted"] - d["observed_rate"]) for d in success["deciles"])
    assert worst < 0.10
    assert len(success["deciles"]) == 10 and success["auc"] > 0.75
    assert result["red_signal"]["auc_percentile"] > 0.65


# ----- command line ------------------------------------------------------------------------


def test_etr_predict_json_has_exactly_the_documented_shape(capsys) -> None:
    assert main(["etr", "predict", "--intake", "20", "--sessions", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"intake", "sessions", "target", "negative", "model", "provisional"}
    assert out["intake"] == 20 and out["sessions"] == list(range(1, 13))
    assert len(out["target"]) == len(out["negative"]) == 12
    assert out["target"][0] == out["negative"][0] == 20
    assert out["provisional"] is True and "Provisional default" in out["model"]


def test_etr_predict_text_output_says_the_default_model_is_provisional(capsys) -> None:
    assert main(["etr", "predict", "--intake", "20", "--sessions", "3"]) == 0
    assert capsys.readouterr().out.startswith("PROVISIONAL model")


def test_etr_predict_with_an_intake_outside_the_range_exits_2_with_one_line(capsys) -> None:
    assert main(["etr", "predict", "--intake", "41", "--sessions", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "intake must be between 0 and 40" in err


def test_etr_fit_then_predict_and_calibrate_from_the_command_line(tmp_path, capsys) -> None:
    table = tmp_path / "admin.csv"
    simulate(1500, 20, seed=3).to_csv(table, index=False)
    model = tmp_path / "model.json"
    assert main(["etr", "fit", str(table), "-o", str(model), "--negative-percentile", "20"]) == 0
    assert etr.load_model(model).negative_percentile == 20.0
    assert main(["etr", "predict", "--model", str(model), "--intake", "15", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["provisional"] is False and len(out["sessions"]) == 12
    assert main(["etr", "calibrate", str(table), "--model", str(model), "--json"]) == 0
    calibration = json.loads(capsys.readouterr().out)
    assert set(calibration) >= {"success", "red_signal", "provisional"}


def test_etr_fit_on_too_little_data_exits_2(tmp_path, capsys) -> None:
    table = tmp_path / "admin.csv"
    known_process(50, seed=4).to_csv(table, index=False)
    assert main(["etr", "fit", str(table), "-o", str(tmp_path / "m.json")]) == 2
    assert "too little data to fit an ETR" in capsys.readouterr().err


def test_etr_predict_with_a_broken_model_file_exits_2_naming_it(tmp_path, capsys) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"format": "alliance-etr"}')
    assert main(["etr", "predict", "--model", str(path), "--intake", "20"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'parameters'" in err


def test_each_public_name_lives_in_one_module_of_the_etr_package_and_is_importable_from_it() -> (
    None
):
    from alliance.science.etr import calibration, fitting, io, model

    homes = {
        model: [
            "EtrModel",
            "EtrParameters",
            "Trajectory",
            "EtrError",
            "model_to_dict",
            "save_model",
        ],
        io: ["load_model", "model_from_dict", "default_model", "ModelFileError", "MODELS_DIR"],
        fitting: ["fit", "longitudinal_scores", "DEFAULT_MIN_EPISODES"],
        calibration: ["calibrate", "auc", "sensitivity_specificity", "calibration_table"],
    }
    for module, names in homes.items():
        for name in names:
            assert getattr(etr, name) is getattr(module, name), name
    assert set(etr.__all__) >= {name for names in homes.values() for name in names}
    # The shipped model files stay beside the package, where the wheel installs them.
    assert (etr.MODELS_DIR / "default_etr_ors.json").is_file()
    assert etr.MODELS_DIR.name == "models" and etr.MODELS_DIR.parent.name == "science"


def test_a_prediction_for_an_episode_known_to_go_on_never_uses_a_seen_score_as_its_final() -> None:
    model = dataclasses.replace(hand_model(), final_sessions={3: 0.5, 6: 0.5})
    seen = [(3, 40.0)]  # far above intake + RC: were session 3 the last, success would be certain
    anywhere = model.success_probability(10.0, seen)
    going_on = model.success_probability(10.0, seen, going_on=True)
    assert going_on != anywhere
    only_later = {k: w for k, w in model.final_sessions.items() if k > 3}
    later_model = dataclasses.replace(model, final_sessions=only_later)
    assert going_on == pytest.approx(later_model.success_probability(10.0, seen))
