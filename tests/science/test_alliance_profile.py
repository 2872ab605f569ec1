"""Alliance profile (ceiling, ruptures, repairs, trend) and hard-to-engage outcomes, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.cli import main
from alliance.science.alliance_episodes import AllianceSeries
from alliance.science.alliance_profile import (
    ProfileRules,
    alliance_profile,
    find_ruptures,
    hard_to_engage,
    shrunken_means,
)
from alliance.science.simulate import simulate

CUTOFF = 36.0


def table(episodes: dict[str, tuple[str, list[float], list[float], str]]) -> pd.DataFrame:
    """Administrations from {episode: (therapist, ORS totals, SRS totals, ending)}."""
    rows = []
    for episode, (therapist, ors, srs, ending) in episodes.items():
        for instrument, totals in (("ors", ors), ("srs", srs)):
            for number, total in enumerate(totals, start=1):
                rows.append(
                    {
                        "client_id": f"C-{episode}",
                        "episode_id": episode,
                        "therapist_id": therapist,
                        "session_number": number,
                        "session_date": f"2025-01-{number:02d}",
                        "instrument": instrument,
                        "rater": "client",
                        "total": total,
                        "ending": ending,
                    }
                )
    frame = pd.DataFrame(rows)
    frame["session_date"] = pd.to_datetime(frame["session_date"])
    return frame


HAND = table(
    {
        # 38 -> 35 is a rupture (drop of 3, and below the cutoff); 38 at the next session repairs it.
        "E1": ("T1", [20, 24, 28], [38, 35, 38], "planned"),
        # Small moves above the cutoff: no rupture. First rating 39: at the ceiling.
        "E2": ("T1", [18, 19, 20], [39, 38.5, 37.5], "planned"),
        # 40 -> 37 ruptures and never returns to 40 in the next two; 36 -> 35 falls below the
        # cutoff at the last rating (cannot be judged).
        "E3": ("T2", [15, 14, 15, 16], [40, 37, 36, 35], "unilateral"),
        # Rising alliance: 30, 32, 34 (fitted rise 4 points); intake 10 is in the worst quarter.
        "E4": ("T2", [10, 20, 25], [30, 32, 34], ""),
    }
)


def test_it_counts_ruptures_repairs_and_the_ones_at_the_last_rating():
    profile = alliance_profile(HAND)
    agency = profile["agency"]
    assert agency["ruptures"] == 3
    assert agency["ruptures_at_last"] == 1
    assert agency["ruptures_repaired"]["k"] == 1 and agency["ruptures_repaired"]["n"] == 2
    assert profile["therapists"]["T1"]["ruptures_repaired"]["share"] == 1.0
    assert profile["therapists"]["T2"]["ruptures_repaired"]["share"] == 0.0


def test_it_measures_sessions_below_the_cutoff_and_first_sessions_at_the_ceiling():
    agency = alliance_profile(HAND)["agency"]
    # Below 36: 35 (E1), 35 (E3), 30, 32, 34 (E4) of 13 ratings.
    assert (agency["below_cutoff"]["k"], agency["below_cutoff"]["n"]) == (5, 13)
    # First ratings 38, 39, 40, 30: two at or above 39.
    assert (agency["first_at_ceiling"]["k"], agency["first_at_ceiling"]["n"]) == (2, 4)


def test_it_classifies_the_alliance_trend_within_episodes():
    trend = alliance_profile(HAND)["agency"]["trend"]
    # E1 flat (0), E2 falling (-1.5), E3 falling (-4.8), E4 rising (+4).
    assert trend["n_episodes"] == 4
    assert (trend["rising"]["k"], trend["flat"]["k"], trend["falling"]["k"]) == (1, 1, 2)
    assert trend["mean_rise"]["mean"] == pytest.approx((0 - 1.5 - 4.8 + 4) / 4)


def test_it_compares_outcomes_of_repaired_and_unrepaired_episodes():
    outcome = alliance_profile(HAND)["agency"]["outcome_by_repair"]
    assert outcome["repaired"]["mean_change"]["mean"] == pytest.approx(8.0)  # E1: 20 -> 28
    assert outcome["repaired"]["reliable_improvement"]["k"] == 1  # 8 > 5 points
    assert outcome["unrepaired"]["mean_change"]["mean"] == pytest.approx(1.0)  # E3: 15 -> 16
    assert outcome["unrepaired"]["reliable_improvement"]["k"] == 0


def test_hard_to_engage_clients_are_those_starting_low_on_alliance_or_outcome():
    hard = hard_to_engage(HAND)
    # Intakes 20, 18, 15, 10: 25th percentile 13.75. E4 (intake 10) and E4's first SRS 30 < 36.
    assert hard["intake_line"] == pytest.approx(13.75)
    assert hard["agency"]["hard"]["n_episodes"] == 1
    assert hard["therapists"]["T2"]["hard"]["n_episodes"] == 1
    assert hard["therapists"]["T1"]["hard"]["n_episodes"] == 0
    assert hard["agency"]["other"]["dropout"]["k"] == 1  # E3 unilateral, of 3 closed


def _naive_ruptures(totals: list[float], rules: ProfileRules) -> tuple[int, int, int]:
    ruptures = repaired = at_last = 0
    for i in range(1, len(totals)):
        before, now = totals[i - 1], totals[i]
        if before - now >= rules.rupture_drop or (before >= CUTOFF > now):
            ruptures += 1
            later = totals[i + 1 : i + 1 + rules.repair_window]
            if not later:
                at_last += 1
            elif any(value >= before for value in later):
                repaired += 1
    return ruptures, repaired, at_last


ratings = st.lists(
    st.lists(st.integers(200, 400).map(lambda tenths: tenths / 10), min_size=1, max_size=8),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(ratings)
def test_the_vectorised_rupture_count_equals_a_plain_loop(episodes):
    rules = ProfileRules()
    series = AllianceSeries(
        episode_id=np.array([f"E{i:02d}" for i, e in enumerate(episodes) for _ in e], object),
        session=np.array([n for e in episodes for n in range(1, len(e) + 1)], np.int64),
        total=np.array([v for e in episodes for v in e], float),
    )
    found = find_ruptures(series, CUTOFF, rules)
    expected = np.sum([_naive_ruptures(e, rules) for e in episodes], axis=0)
    assert (found.rupture.sum(), found.repaired.sum(), found.at_last.sum()) == tuple(expected)


def test_shrinkage_pulls_small_caseloads_toward_the_agency_and_keeps_rates_in_range():
    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {
            "therapist_id": np.repeat(["A", "B", "C", "D"], [200, 200, 200, 3]),
            "y": np.concatenate(
                [rng.binomial(1, p, n) for p, n in ((0.2, 200), (0.5, 200), (0.8, 200), (1.0, 3))]
            ).astype(float),
        }
    )
    result = shrunken_means(data, 0.5, bounds=(0.0, 1.0))
    raw = data.groupby("therapist_id")["y"].mean()
    assert abs(result.loc["A", "estimate"] - raw["A"]) < 0.02  # a large caseload keeps its mean
    assert result.loc["D", "estimate"] < raw["D"] - 0.05  # three clients are pulled in
    assert (result[["low", "high"]].to_numpy() >= 0).all()
    assert (result[["low", "high"]].to_numpy() <= 1).all()
    assert bool(result.loc["A", "differs"]) and bool(result.loc["C", "differs"])


def test_without_differences_between_therapists_nobody_differs():
    data = pd.DataFrame(
        {"therapist_id": np.repeat(list("ABCDE"), 20), "y": np.tile([0.0, 1.0], 50)}
    )
    result = shrunken_means(data, 0.5, bounds=(0.0, 1.0))
    assert (result["estimate"] == 0.5).all()
    assert not result["differs"].any()


def test_the_profile_command_lists_therapists_by_id_and_filters_one(tmp_path, capsys):
    path = tmp_path / "admin.csv"
    simulate(400, 6, seed=1).to_csv(path, index=False)
    assert main(["alliance-profile", str(path)]) == 0
    out = capsys.readouterr().out
    lines = [line.split()[0] for line in out.splitlines()[2:]]
    assert lines[0] == "agency" and lines[1:] == sorted(lines[1:])
    assert main(["alliance-profile", str(path), "--json", "--therapist", "T0002"]) == 0
    assert '"T0001"' not in capsys.readouterr().out
    assert main(["alliance-profile", str(path), "--therapist", "nobody"]) == 2
