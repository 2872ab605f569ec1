"""The simulator's documented properties, on a modest sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.cli import main
from alliance.science.simulate import COLUMNS, simulate
from alliance.science.table import episode_outcomes, read_administrations

ITEMS = ["item_1", "item_2", "item_3", "item_4"]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return simulate(3000, 60, seed=11)


@pytest.fixture(scope="module")
def outcomes(sample: pd.DataFrame) -> pd.DataFrame:
    return episode_outcomes(sample, instrument="ors")


def one_way_icc(values: np.ndarray, groups: np.ndarray) -> float:
    """ANOVA estimator of the intraclass correlation, written out for unequal group sizes."""
    frame = pd.DataFrame({"value": values, "group": groups})
    sizes = frame.groupby("group")["value"].size().to_numpy()
    means = frame.groupby("group")["value"].mean().to_numpy()
    k, n = len(sizes), len(values)
    grand = values.mean()
    ms_between = (sizes * (means - grand) ** 2).sum() / (k - 1)
    within = values - frame.groupby("group")["value"].transform("mean").to_numpy()
    ms_within = (within**2).sum() / (n - k)
    n0 = (n - (sizes**2).sum() / n) / (k - 1)
    return float((ms_between - ms_within) / (ms_between + (n0 - 1) * ms_within))


def test_same_seed_gives_the_same_table_and_another_seed_does_not() -> None:
    first = simulate(200, 10, seed=3)
    pd.testing.assert_frame_equal(first, simulate(200, 10, seed=3))
    assert not first["total"].equals(simulate(200, 10, seed=4)["total"])


def test_it_has_the_administrations_columns_and_types(sample: pd.DataFrame) -> None:
    assert tuple(sample.columns) == COLUMNS
    assert sample["session_number"].dtype == np.int64
    assert pd.api.types.is_datetime64_any_dtype(sample["session_date"])
    assert set(sample["instrument"].unique()) == {"ors", "srs", "cors", "csrs"}
    assert set(sample["rater"].unique()) == {"client", "parent"}
    assert set(sample["ending"].dropna().unique()) == {"planned", "unilateral"}


def test_totals_are_sums_of_four_items_of_0_to_10_with_one_decimal(sample: pd.DataFrame) -> None:
    items = sample[ITEMS].to_numpy()
    assert items.min() >= 0.0 and items.max() <= 10.0
    np.testing.assert_allclose(items * 10, np.rint(items * 10), atol=1e-9)
    np.testing.assert_allclose(items.sum(axis=1), sample["total"], atol=1e-9)
    assert sample["total"].between(0, 40).all()


def test_episode_ids_are_unique_across_clients(sample: pd.DataFrame) -> None:
    clients_per_episode = sample.groupby("episode_id")["client_id"].nunique()
    assert (clients_per_episode == 1).all()
    assert sample.groupby("episode_id")["therapist_id"].nunique().max() == 1


def test_sessions_are_numbered_from_one_and_dated_weekly_ish(sample: pd.DataFrame) -> None:
    ors = sample.loc[(sample["instrument"] == "ors") & (sample["rater"] == "client")]
    ors = ors.sort_values(["episode_id", "session_number"])
    first = ors.groupby("episode_id")["session_number"].min()
    assert (first == 1).all()
    counts = ors.groupby("episode_id")["session_number"].agg(["max", "size"])
    assert (counts["max"] == counts["size"]).all()
    assert counts["max"].max() <= 20
    gaps = ors.groupby("episode_id")["session_date"].diff().dropna().dt.days
    assert gaps.between(5, 16).all()
    assert 7 <= gaps.mean() <= 10
    span = sample["session_date"].max() - sample["session_date"].min()
    assert 3 * 365 - 30 <= span.days <= 3 * 365 + 2


def test_age_bands_and_instruments_follow_the_documented_shares(
    sample: pd.DataFrame, outcomes: pd.DataFrame
) -> None:
    assert set(outcomes["age_band"].unique()) == {"adolescent", "adult"}
    children = episode_outcomes(sample, instrument="cors")
    assert set(children["age_band"].unique()) == {"child"}
    total = len(outcomes) + len(children)
    assert 0.07 < len(children) / total < 0.13
    assert 0.72 < (outcomes["age_band"] == "adult").sum() / total < 0.78


def test_adult_intakes_are_about_n_19_7_with_a_share_above_25(outcomes: pd.DataFrame) -> None:
    adults = outcomes.loc[outcomes["age_band"] == "adult", "intake"]
    assert 18.3 < adults.mean() < 19.7
    assert 6.4 < adults.std() < 7.6
    assert 0.14 < (adults >= 25).mean() < 0.26


def test_episode_lengths_run_from_1_to_20_with_many_short(outcomes: pd.DataFrame) -> None:
    assert outcomes["n_scores"].min() == 1
    assert 0.15 < (outcomes["n_scores"] == 1).mean() < 0.26
    assert 4.0 < outcomes["n_scores"].mean() < 5.5


def test_about_a_fifth_of_closed_episodes_end_unilaterally(outcomes: pd.DataFrame) -> None:
    closed = outcomes["ending"].notna()
    assert 0.18 < (outcomes.loc[closed, "ending"] == "unilateral").mean() < 0.28
    assert 0.06 < (~closed).mean() < 0.15
    # Open episodes are the recent ones: their last session is in the final months.
    latest = outcomes["last_date"].max()
    assert (latest - outcomes.loc[~closed, "last_date"]).dt.days.max() <= 75


def test_poor_progress_makes_unilateral_endings_more_likely(outcomes: pd.DataFrame) -> None:
    closed = outcomes.loc[outcomes["ending"].notna() & (outcomes["n_scores"] >= 3)]
    unilateral = closed["ending"] == "unilateral"
    assert closed.loc[unilateral, "change"].mean() < closed.loc[~unilateral, "change"].mean() - 1


def test_lower_intakes_gain_more(outcomes: pd.DataFrame) -> None:
    used = outcomes.loc[outcomes["n_scores"] >= 3]
    assert (
        used.loc[used["intake"] < 15, "change"].mean()
        > used.loc[used["intake"] > 25, "change"].mean() + 3
    )


def test_therapists_explain_about_five_percent_after_intake() -> None:
    frame = simulate(6000, 60, seed=2)
    used = episode_outcomes(frame).query("n_scores >= 2")
    slope, intercept = np.polyfit(used["intake"], used["final"], 1)
    residual = (used["final"] - (intercept + slope * used["intake"])).to_numpy()
    icc = one_way_icc(residual, used["therapist_id"].to_numpy())
    assert 0.02 < icc < 0.10


def test_srs_sits_near_the_ceiling_and_early_srs_predicts_change(
    sample: pd.DataFrame, outcomes: pd.DataFrame
) -> None:
    srs = sample.loc[sample["instrument"] == "srs", ["episode_id", "session_number", "total"]]
    assert 36.0 < srs["total"].mean() < 37.2
    assert 2.4 < srs["total"].std() < 3.3
    assert srs["total"].max() == 40.0
    early = srs.loc[srs["session_number"] <= 2].groupby("episode_id")["total"].mean()
    used = outcomes.loc[outcomes["n_scores"] >= 2].join(early.rename("early"))
    r = np.corrcoef(used["early"], used["change"])[0, 1]
    assert 0.15 < r < 0.38


def test_some_children_and_adolescents_have_a_parent_rater(sample: pd.DataFrame) -> None:
    parents = sample.loc[sample["rater"] == "parent"]
    assert set(parents["age_band"].unique()) == {"child", "adolescent"}
    assert set(parents["instrument"].unique()) == {"ors", "cors"}
    children = sample.loc[sample["age_band"] == "child", "episode_id"].nunique()
    with_parent = parents.loc[parents["age_band"] == "child", "episode_id"].nunique()
    assert 0.35 < with_parent / children < 0.65


@settings(max_examples=15, deadline=None)
@given(
    episodes=st.integers(1, 40),
    therapists=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_small_simulation_is_a_valid_table(episodes: int, therapists: int, seed: int) -> None:
    frame = simulate(episodes, therapists, seed=seed)
    assert frame["episode_id"].nunique() <= episodes
    assert frame["therapist_id"].nunique() <= therapists
    items = frame[ITEMS].to_numpy()
    assert items.min() >= 0 and items.max() <= 10
    np.testing.assert_allclose(items.sum(axis=1), frame["total"], atol=1e-9)
    assert frame["session_number"].min() == 1


@pytest.mark.parametrize("episodes, therapists", [(0, 5), (5, 0), (2.5, 3)])
def test_it_rejects_non_positive_or_fractional_sizes(episodes: object, therapists: object) -> None:
    with pytest.raises(ValueError, match="must be a whole number of 1 or more"):
        simulate(episodes, therapists)  # type: ignore[arg-type]


def test_cli_writes_a_csv_that_reads_back_as_the_same_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "sim.csv"
    assert (
        main(["simulate", "--episodes", "50", "--therapists", "4", "--seed", "9", "-o", str(path)])
        == 0
    )
    read = read_administrations(path)
    expected = simulate(50, 4, seed=9)
    assert len(read) == len(expected)
    np.testing.assert_allclose(read["total"], expected["total"])
    assert (read["session_date"].to_numpy() == expected["session_date"].to_numpy()).all()
    assert read["episode_id"].tolist() == expected["episode_id"].tolist()
    assert read["ending"].isna().sum() == expected["ending"].isna().sum()


def test_cli_rejects_zero_episodes_with_exit_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["simulate", "--episodes", "0", "--therapists", "4", "-o", str(tmp_path / "x.csv")])
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == "alliance simulate: error: --episodes must be 1 or more, not 0"
    )
