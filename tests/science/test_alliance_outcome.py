"""The alliance-outcome decomposition recovers simulated truth and agrees with a plain fit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from alliance.cli import main
from alliance.science.alliance_episodes import AllianceDataError, alliance_episodes
from alliance.science.alliance_outcome import alliance_outcome
from alliance.science.simulate import SimulationParameters, simulate

# Therapists differ in alliance ability (SD 1.5 SRS points); scores stay clear of the SRS ceiling
# and the session noise is small, so the observed early alliance measures the latent one well.
CLEAN = {
    "alliance_slope_correlation": 0.0,
    "alliance_mean": 32.0,
    "alliance_session_sd": 0.5,
    "caseload_shape": 50.0,
}


def _parameters(between: float, within: float, therapist_sd: float) -> SimulationParameters:
    return SimulationParameters(
        therapist_alliance_sd=therapist_sd,
        alliance_outcome_between=between,
        alliance_outcome_within=within,
        **CLEAN,
    )


def _repeat(parameters: SimulationParameters, repetitions: int = 25) -> pd.DataFrame:
    rows = []
    for seed in range(repetitions):
        frame = simulate(1200, 20, seed=seed, parameters=parameters)
        overall = alliance_outcome(frame)["overall"]
        rows.append({name: overall[name] for name in ("between", "within")})
    return pd.DataFrame(rows)


def _coverage(results: pd.DataFrame, name: str, truth: float) -> float:
    covered = [part["low"] <= truth <= part["high"] for part in results[name]]
    return float(np.mean(covered))


def _estimates(results: pd.DataFrame, name: str) -> np.ndarray:
    return np.array([part["estimate"] for part in results[name]])


def test_it_recovers_a_simulated_between_therapist_slope_with_nominal_coverage():
    results = _repeat(_parameters(between=1.0, within=0.5, therapist_sd=1.5))
    assert _estimates(results, "between").mean() == pytest.approx(1.0, abs=0.15)
    assert _estimates(results, "within").mean() == pytest.approx(0.5, abs=0.05)
    assert _coverage(results, "between", 1.0) >= 0.84
    assert _coverage(results, "within", 0.5) >= 0.84


def test_it_finds_no_between_effect_where_none_was_simulated():
    results = _repeat(_parameters(between=0.0, within=0.0, therapist_sd=0.0))
    assert _coverage(results, "between", 0.0) >= 0.84
    assert _coverage(results, "within", 0.0) >= 0.8
    assert abs(_estimates(results, "within").mean()) < 0.05


def _independent_fit(frame: pd.DataFrame, first_k: int = 3):
    """The same model built with plain pandas from the raw rows, fitted by statsmodels."""
    ors = frame[(frame.instrument == "ors") & (frame.rater == "client")].sort_values(
        ["episode_id", "session_number"]
    )
    per_episode = ors.groupby("episode_id").agg(
        therapist_id=("therapist_id", "first"),
        intake=("total", "first"),
        final=("total", "last"),
        last_session=("session_number", "last"),
        n=("total", "size"),
        ending=("ending", "first"),
    )
    srs = frame[(frame.instrument == "srs") & (frame.rater == "client")].merge(
        per_episode[["last_session"]], left_on="episode_id", right_index=True
    )
    srs = srs[srs.session_number < srs.last_session].sort_values(["episode_id", "session_number"])
    early = srs.groupby("episode_id").head(first_k).groupby("episode_id")["total"].mean()
    data = per_episode.assign(alliance=early).dropna(subset=["alliance", "ending"])
    data = data[data.n >= 2]
    mean = data.groupby("therapist_id")["alliance"].transform("mean")
    data = data.assign(between=mean - data.alliance.mean(), within=data.alliance - mean)
    model = smf.mixedlm("final ~ intake + between + within", data, groups=data["therapist_id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True, method="nm", maxiter=5000), len(data)


def test_it_matches_an_independent_statsmodels_fit_on_the_same_data():
    frame = simulate(800, 12, seed=5, parameters=_parameters(1.0, 0.3, 1.5))
    expected, n = _independent_fit(frame)
    overall = alliance_outcome(frame)["overall"]
    assert overall["n_episodes"] == n
    for name in ("between", "within", "intake"):
        assert overall[name]["estimate"] == pytest.approx(expected.fe_params[name], abs=1e-3)
        se = (overall[name]["high"] - overall[name]["low"]) / (2 * 1.959963984540054)
        assert se == pytest.approx(expected.bse_fe[name], rel=1e-2)
    assert overall["var_therapist"] == pytest.approx(expected.cov_re.iloc[0, 0], rel=2e-2, abs=1e-3)


def test_change_and_final_give_the_same_alliance_slopes():
    frame = simulate(600, 10, seed=3)
    final = alliance_outcome(frame, outcome="final")["overall"]
    change = alliance_outcome(frame, outcome="change")["overall"]
    for name in ("between", "within"):
        assert change[name]["estimate"] == pytest.approx(final[name]["estimate"], abs=1e-3)
    assert change["intake"]["estimate"] == pytest.approx(final["intake"]["estimate"] - 1, abs=1e-3)


def test_the_reading_says_what_the_interval_says():
    frame = simulate(1200, 20, seed=1, parameters=_parameters(1.5, 0.0, 1.5))
    reading = alliance_outcome(frame)["overall"]["reading"]
    assert reading[0].startswith("Therapists who form stronger alliances have better outcomes: +")
    assert "95% CI" in reading[0]
    assert "no reliable difference" in reading[1]


def test_alliance_is_only_taken_from_sessions_before_the_final_outcome_score():
    frame = simulate(300, 6, seed=2)
    episodes = alliance_episodes(frame, first_k=3)
    srs = frame[frame.instrument == "srs"]
    one = episodes[episodes.n_scores >= 3].index[0]
    last = episodes.loc[one, "last_session"]
    rows = srs[(srs.episode_id == one) & (srs.session_number < last)].sort_values("session_number")
    assert episodes.loc[one, "early_alliance"] == pytest.approx(rows.total.head(3).mean())
    assert episodes.loc[one, "n_early"] == min(3, len(rows))


def test_groups_too_small_to_fit_say_why_instead_of_failing_the_whole_report():
    frame = simulate(1200, 12, seed=4)  # team02 has two therapists
    groups = alliance_outcome(frame, by="team_id")["groups"]
    assert set(groups) == {"team01", "team02"}
    assert "error" in groups["team02"] and "not enough data" in groups["team02"]["error"]
    assert groups["team01"]["n_therapists"] == 10


def test_one_therapist_is_refused_with_a_clear_message():
    frame = simulate(200, 1, seed=1)
    with pytest.raises(AllianceDataError, match="need at least 10 episodes and 3 therapists"):
        alliance_outcome(frame)


def test_a_table_without_alliance_ratings_is_refused_with_a_clear_message():
    frame = simulate(200, 5, seed=1)
    with pytest.raises(AllianceDataError, match="no SRS ratings"):
        alliance_outcome(frame[frame.instrument != "srs"])


def test_therapists_with_a_single_client_count_toward_the_between_slope():
    frame = simulate(600, 10, seed=7)
    long_episode = alliance_episodes(frame).query("n_scores >= 3 and n_early >= 1").index[0]
    lonely = frame[frame.episode_id == long_episode].assign(therapist_id="T9999")
    frame = pd.concat([frame[frame.episode_id != long_episode], lonely])
    overall = alliance_outcome(frame, closed_only=False)["overall"]
    assert overall["n_single_client_therapists"] >= 1


def test_the_command_prints_the_reading_and_json(tmp_path, capsys):
    path = tmp_path / "admin.csv"
    simulate(800, 12, seed=1).to_csv(path, index=False)
    assert main(["alliance-outcome", str(path)]) == 0
    assert "per SRS point of the therapist's mean alliance" in capsys.readouterr().out
    assert main(["alliance-outcome", str(path), "--json", "--first-k", "2"]) == 0
    assert '"first_k": 2' in capsys.readouterr().out


def test_the_command_names_the_problem_in_one_line(tmp_path, capsys):
    path = tmp_path / "admin.csv"
    simulate(30, 1, seed=1).to_csv(path, index=False)
    assert main(["alliance-outcome", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("alliance alliance-outcome: error: not enough data")
    assert "\n" not in error


def test_the_simulated_alliance_ability_separates_therapists_mean_srs_by_its_sd():
    frame = simulate(6000, 40, seed=9, parameters=_parameters(0.0, 0.0, 1.5))
    srs = frame[frame.instrument == "srs"]
    first = srs.sort_values("session_number").groupby("episode_id").first()
    means = first.groupby("therapist_id")["total"].mean()
    # Client level SD 3 over ~150 clients per therapist adds ~0.25 to the SD of the means.
    assert means.std() == pytest.approx(1.5, abs=0.4)
    plain = simulate(6000, 40, seed=9, parameters=_parameters(0.0, 0.0, 0.0))
    plain_first = plain[plain.instrument == "srs"].groupby("episode_id").first()
    assert plain_first.groupby("therapist_id")["total"].mean().std() < 0.8
