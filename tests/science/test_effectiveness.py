"""Effectiveness aggregates checked against numbers worked out by hand on a six-episode table."""

from __future__ import annotations

import json
import math

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from alliance.cli import main
from alliance.science import effectiveness as effectiveness_module
from alliance.science.effectiveness import (
    EffectivenessError,
    Reference,
    effectiveness,
    episode_table,
    fit_reference,
    pre_post,
)
from alliance.science.simulate import simulate
from alliance.science.table import validate_administrations

T_975_DF4 = 2.7764451051977987  # Student t quantile, 97.5%, 4 degrees of freedom (tables: 2.776)


class FakeModel:
    """Target = intake + 3 after the intake; negative line = intake (so easy to work by hand)."""

    name = "fake"
    provisional = True

    def target_scores(
        self, intakes: npt.ArrayLike, sessions: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        return np.asarray(intakes, float) + 3.0 * (np.asarray(sessions) > 1)

    def negative_scores(
        self, intakes: npt.ArrayLike, sessions: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        return np.asarray(intakes, float) + 0.0 * np.asarray(sessions)


# episode: (client, therapist, age band, ending, ORS per session, SRS per session)
EPISODES = {
    "E1": ("C1", "A", "adult", None, [15, 22], [38, 39]),  # +7 improved; still open
    "E2": ("C2", "A", "adult", "planned", [20, 22, 26], [30, 35, 38]),  # +6 recovered
    "E3": ("C3", "A", "adult", "unilateral", [18, 23], [36, 37]),  # +5: not beyond 5, unchanged
    "E4": ("C4", "B", "adult", "unilateral", [22, 16], [33, 34]),  # -6 deteriorated; drop-out
    "E5": ("C5", "B", "adolescent", "planned", [24, 30], [39, 40]),  # +6 crosses 28: recovered
    "E6": ("C6", "B", "adult", "unilateral", [30], [35]),  # single session: drop-out
}


def tiny_table() -> pd.DataFrame:
    rows = []
    for episode, (client, therapist, band, ending, ors, srs) in EPISODES.items():
        for index, (outcome, alliance) in enumerate(zip(ors, srs, strict=True)):
            date = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * index)
            common = {
                "client_id": client,
                "episode_id": episode,
                "therapist_id": therapist,
                "team_id": "north" if therapist == "A" else "south",
                "session_number": index + 1,
                "session_date": date.strftime("%Y-%m-%d"),
                "age_band": band,
                "ending": ending,
            }
            rows.append({**common, "instrument": "ors", "rater": "client", "total": outcome})
            rows.append({**common, "instrument": "srs", "rater": "client", "total": alliance})
    # A parent also rates E5: counted as a collateral rater, never mixed into the client's scores.
    e5_rows = [row for row in rows if row["episode_id"] == "E5" and row["instrument"] == "ors"]
    for row in e5_rows:
        rows.append({**row, "rater": "parent", "total": 5.0})
    return validate_administrations(pd.DataFrame(rows))


@pytest.fixture
def tiny() -> pd.DataFrame:
    return tiny_table()


def test_pre_post_effect_size_is_mean_change_over_sd_of_intake(tiny: pd.DataFrame) -> None:
    overall = effectiveness(tiny, model=FakeModel())["overall"]
    # Used episodes E1-E5: intakes 15, 20, 18, 22, 24 (SD sqrt(12.2)); changes 7, 6, 5, -6, 6.
    assert overall["n_episodes"] == 6
    assert overall["n_used"] == 5
    assert overall["intake_mean"] == pytest.approx(19.8)
    assert overall["change_mean"] == pytest.approx(3.6)
    assert overall["es"]["value"] == pytest.approx(3.6 / math.sqrt(12.2))
    se = math.sqrt(29.3 / (5 * 12.2) + (3.6**2 / 12.2) / 8)
    assert overall["es"]["low"] == pytest.approx(3.6 / math.sqrt(12.2) - 1.959964 * se, rel=1e-5)


def test_reliable_change_counts_a_change_of_exactly_five_points(tiny: pd.DataFrame) -> None:
    overall = effectiveness(tiny, model=FakeModel())["overall"]
    # E1 (+7), E2 (+6), E5 (+6) and E3 (+5 exactly: the instrument's rule is "at least 5").
    assert overall["reliable_improvement"]["count"] == 4
    assert overall["reliable_improvement"]["proportion"] == pytest.approx(0.8)
    assert overall["reliable_deterioration"]["count"] == 1


def test_clinically_significant_change_uses_the_age_band_cutoff(tiny: pd.DataFrame) -> None:
    overall = effectiveness(tiny, model=FakeModel())["overall"]
    # All five used intakes are clinical (adults < 25, the adolescent's 24 < 28); E2 crosses 25
    # and E5 crosses 28; E1 ends at 22, still clinical.
    assert overall["clinically_significant"]["count"] == 2
    assert overall["clinically_significant"]["n"] == 5


def test_dropout_is_unilateral_before_target_among_closed(tiny: pd.DataFrame) -> None:
    overall = effectiveness(tiny, model=FakeModel())["overall"]
    # Closed: E2-E6. Unilateral: E3 (reached 23 >= 21, not a drop-out), E4 (16 < 25), E6 (one
    # score, never reached a target).
    assert overall["n_closed"] == 5
    assert overall["dropout"]["count"] == 2
    assert overall["dropout"]["n"] == 5
    # Targets reached: E1, E2, E3, E5 of the 5 used episodes.
    assert overall["reached_target"]["count"] == 4
    assert overall["last_colour"] == {"green": 4, "orange": 0, "red": 1, "grey": 1}
    assert overall["last_green"]["proportion"] == pytest.approx(4 / 6)
    split = overall["unilateral_by_last_colour"]
    assert (split["green"]["count"], split["green"]["n"]) == (1, 3)
    assert (split["not_green"]["count"], split["not_green"]["n"]) == (2, 2)


def test_mean_sessions_and_days_count_closed_episodes_with_t_intervals(
    tiny: pd.DataFrame,
) -> None:
    overall = effectiveness(tiny, model=FakeModel())["overall"]
    # Closed E2-E6: sessions 3, 2, 2, 2, 1 (mean 2, SD sqrt(.5)); days 14, 7, 7, 7, 0.
    sessions = overall["sessions"]
    assert sessions["value"] == pytest.approx(2.0)
    assert sessions["high"] - 2.0 == pytest.approx(T_975_DF4 * math.sqrt(0.5) / math.sqrt(5))
    assert overall["days"]["value"] == pytest.approx(7.0)


def test_severity_adjusted_effect_size_uses_the_given_reference(tiny: pd.DataFrame) -> None:
    reference = Reference(intercept=10.0, slope=-0.4, mean_change=4.0, sd_intake=5.0, n=100)
    overall = effectiveness(tiny, model=FakeModel(), reference=reference)["overall"]
    # Residuals change - (10 - .4 intake): 3, 4, 2.2, -7.2, 5.6 -> SAES 1.4, 1.6, 1.24, -.64, 1.92.
    assert overall["saes"]["value"] == pytest.approx(1.104)
    assert overall["saes"]["n"] == 5
    assert overall["relative_es"] == pytest.approx(1.104 - 0.8)


def test_reference_parameters_can_be_given_as_a_saved_dict(tiny: pd.DataFrame) -> None:
    saved = {"intercept": 10.0, "slope": -0.4, "mean_change": 4.0, "sd_intake": 5.0, "n": 100}
    overall = effectiveness(tiny, model=FakeModel(), reference=saved)["overall"]
    assert overall["saes"]["value"] == pytest.approx(1.104)


def test_reference_fitted_on_the_frame_reproduces_the_regression_by_hand(
    tiny: pd.DataFrame,
) -> None:
    result = effectiveness(tiny, model=FakeModel())
    ref = result["reference"]
    # Least squares of change (7, 6, 5, -6, 6) on intake (15, 20, 18, 22, 24):
    # Sxy = sum (x - 19.8)(y - 3.6) = -16.32 + .48 - 2.52 - 21.12 + 10.08 = -29.4, Sxx = 48.8.
    assert ref["slope"] == pytest.approx(-29.4 / 48.8)
    assert ref["intercept"] == pytest.approx(3.6 + 29.4 / 48.8 * 19.8)
    # Against its own reference the mean SAES equals the reference ES: relative ES 0 by
    # construction, so it is not shown (no comparison group).
    assert result["overall"]["saes"]["value"] == pytest.approx(3.6 / math.sqrt(12.2))
    assert result["overall"]["relative_es"] is None


def test_too_few_clinical_intakes_leave_saes_out_and_keep_the_other_indices(
    tiny: pd.DataFrame,
) -> None:
    few = tiny[tiny["episode_id"].isin(tiny["episode_id"].unique()[:2])]
    result = effectiveness(few, model=FakeModel())
    assert "at least 3" in result["reference_note"]
    assert result["overall"]["saes"]["value"] is None
    assert result["overall"]["es"]["value"] is not None


def test_reference_needs_three_clinical_episodes() -> None:
    frame = pd.DataFrame(
        {"intake": [10.0, 12.0], "change": [5.0, 2.0], "used": True, "clinical_intake": True}
    )
    with pytest.raises(EffectivenessError, match="at least 3"):
        fit_reference(frame)


def test_alliance_summary_matches_hand_numbers(tiny: pd.DataFrame) -> None:
    alliance = effectiveness(tiny, model=FakeModel())["overall"]["alliance"]
    assert alliance["n_sessions"] == 12
    assert alliance["mean"] == pytest.approx(434 / 12)
    assert alliance["intake_mean"] == pytest.approx(211 / 6)
    assert alliance["below_cutoff"]["count"] == 5  # 30, 35, 33, 34, 35 are below 36
    # Early SRS (mean of sessions 1-2) 38.5, 32.5, 36.5, 33.5, 39.5 vs change 7, 6, 5, -6, 6.
    r = alliance["early_outcome_r"]
    assert r["n"] == 5
    assert r["value"] == pytest.approx(33.2 / math.sqrt(37.2 * 117.2))


def test_age_bands_and_collateral_raters_are_counted(tiny: pd.DataFrame) -> None:
    overall = effectiveness(tiny, model=FakeModel())["overall"]
    assert overall["by_age_band"]["adult"]["n_clients"] == 5
    assert overall["by_age_band"]["adult"]["intake_mean"] == pytest.approx(
        (15 + 20 + 18 + 22 + 30) / 5
    )
    assert overall["by_age_band"]["adolescent"]["intake_mean"] == pytest.approx(24)
    assert overall["collateral_raters"] == {"parent": 1}


def test_groups_by_therapist_are_computed_separately(tiny: pd.DataFrame) -> None:
    groups = effectiveness(tiny, by="therapist_id", model=FakeModel())["groups"]
    assert set(groups) == {"A", "B"}
    # Therapist A: intakes 15, 20, 18 (SD sqrt(19/3)); changes 7, 6, 5 (mean 6).
    assert groups["A"]["es"]["value"] == pytest.approx(6 / math.sqrt(19 / 3))
    assert groups["B"]["n_episodes"] == 3
    assert groups["B"]["dropout"]["count"] == 2
    assert groups["B"]["collateral_raters"] == {"parent": 1}
    assert groups["A"]["collateral_raters"] == {}


def test_groups_by_quarter_come_from_the_first_session_date(tiny: pd.DataFrame) -> None:
    groups = effectiveness(tiny, by="quarter", model=FakeModel())["groups"]
    assert list(groups) == ["2024Q1"]


def test_unknown_grouping_column_is_named_in_the_error(tiny: pd.DataFrame) -> None:
    with pytest.raises(EffectivenessError, match="'clinic'"):
        effectiveness(tiny, by="clinic", model=FakeModel())


def test_result_is_strict_json_with_nan_as_none(tiny: pd.DataFrame) -> None:
    result = effectiveness(tiny, by="therapist_id", model=FakeModel())
    text = json.dumps(result, allow_nan=False)
    # Therapist B has two used episodes: Fisher interval undefined -> None, not NaN.
    assert json.loads(text)["groups"]["B"]["alliance"]["early_outcome_r"]["low"] is None


def test_no_outcome_scores_is_a_clear_error(tiny: pd.DataFrame) -> None:
    with pytest.raises(EffectivenessError, match="no ors scores rated by 'teacher'"):
        effectiveness(tiny, rater="teacher", model=FakeModel())


def test_it_runs_on_simulated_data_with_plausible_values() -> None:
    frame = simulate(1500, 30, seed=5)
    result = effectiveness(frame, by="team_id", model=FakeModel())
    overall = result["overall"]
    assert 0.4 < overall["es"]["value"] < 0.9
    # Drop-outs are the unilateral endings (~22% of closed) that had not reached the target.
    assert 0.05 < overall["dropout"]["proportion"] < 0.22
    assert set(result["groups"]) == {"team01", "team02", "team03"}
    assert sum(g["n_episodes"] for g in result["groups"].values()) == overall["n_episodes"]


def test_cli_prints_json_for_a_file(tiny: pd.DataFrame, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tiny.csv"
    tiny.to_csv(path, index=False, date_format="%Y-%m-%d")
    reference = tmp_path / "reference.json"
    reference.write_text(
        json.dumps({"intercept": 10, "slope": -0.4, "mean_change": 4, "sd_intake": 5, "n": 100})
    )
    assert main(["effectiveness", str(path), "--json", "--reference", str(reference)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["overall"]["n_used"] == 5
    assert result["overall"]["saes"]["value"] == pytest.approx(1.104)


def test_cli_prints_a_readable_table_by_group(tiny: pd.DataFrame, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tiny.csv"
    tiny.to_csv(path, index=False, date_format="%Y-%m-%d")
    assert main(["effectiveness", str(path), "--by", "team_id"]) == 0
    lines = capsys.readouterr().out.splitlines()
    overall = next(line for line in lines if line.startswith("overall"))
    assert overall.split()[1:3] == ["6", "5"]
    assert any(line.startswith("north") for line in lines)


def test_cli_rejects_an_unknown_by_column_with_exit_2(tiny: pd.DataFrame, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tiny.csv"
    tiny.to_csv(path, index=False, date_format="%Y-%m-%d")
    assert main(["effectiveness", str(path), "--by", "clinic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "unknown --by column 'clinic'" in err[0]


def test_cli_rejects_an_unknown_instrument_with_exit_2(
    tiny: pd.DataFrame, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tiny.csv"
    tiny.to_csv(path, index=False, date_format="%Y-%m-%d")
    assert main(["effectiveness", str(path), "--instrument", "xyz"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_effectiveness_reuses_a_given_episode_table() -> None:
    frame = simulate(600, 10, seed=5)
    frame.loc[frame.index[::5], "ending"] = pd.NA
    table = episode_table(frame, "ors", "client")
    for by in (None, "quarter", "therapist_id", "age_band"):
        assert effectiveness(frame, by=by, episodes=table) == effectiveness(frame, by=by)
    with pytest.raises(EffectivenessError, match="episode table"):
        effectiveness(frame, episodes=table.iloc[1:])
    with pytest.raises(EffectivenessError, match="episode table"):
        effectiveness(frame.iloc[: len(frame) // 2], episodes=table)


def test_pre_post_matches_the_full_computation_on_shuffled_rows(tiny: pd.DataFrame) -> None:
    # pre_post is the lean path used by the benchmark: same definitions, whatever the row order.
    shuffled = tiny.sample(frac=1.0, random_state=3).reset_index(drop=True)
    lean = pre_post(shuffled)
    full = effectiveness(tiny, model=FakeModel())["overall"]
    assert lean["n_used"] == full["n_used"] == 5
    assert lean["change_mean"] == pytest.approx(3.6)
    assert lean["es"] == pytest.approx(3.6 / math.sqrt(12.2))
    assert lean["reliable_improvement"]["n"] == 5
    assert lean["reliable_improvement"]["count"] == full["reliable_improvement"]["count"]


def test_a_small_sample_is_flagged_and_a_large_one_is_not(tiny: pd.DataFrame) -> None:
    assert effectiveness(tiny, model=FakeModel())["overall"]["small_sample"] is True
    large = simulate(80, 4, seed=5)
    assert effectiveness(large)["overall"]["small_sample"] is False


def test_session_count_intervals_never_reach_below_one_session() -> None:
    # Two closed episodes of 1 and 9 sessions: the t interval of the mean (5) reaches far below 0.
    row = {"sessions_closed_count": 2, "sessions_closed_mean": 5.0, "sessions_closed_std": 5.657}
    interval = effectiveness_module._mean_interval(row, "sessions_closed", floor=1.0)
    assert interval["low"] == 1.0
    assert interval["high"] > 5.0
    unclamped = effectiveness_module._mean_interval(row, "sessions_closed")
    assert unclamped["low"] < 0
