"""The per-episode table (``table.episode_outcomes``, fast, on integer codes) against the slow
pandas definition kept in tests/science/oracle.py."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.science import effectiveness
from alliance.science.simulate import simulate
from alliance.science.table import episode_outcomes
from tests.science import oracle

TEXT_COLUMNS = ["client_id", "episode_id", "therapist_id", "instrument", "rater"]
EPISODE_COLUMNS = ["team_id", "age_band", "ending"]
START = pd.Timestamp("2024-01-01")


def assert_same_episodes(fast: pd.DataFrame, slow: pd.DataFrame) -> None:
    """Same episodes, columns and values; the fast table keeps first-appearance order.

    Text columns are compared as text: a missing value is NA in one table and None in the other.
    """
    assert list(fast.columns) == list(slow.columns)
    if slow.empty:
        assert fast.empty
        return
    text = [c for c in ("client_id", "therapist_id", *EPISODE_COLUMNS) if c in slow.columns]
    as_text = dict.fromkeys(text, "string")
    pd.testing.assert_frame_equal(
        fast.astype(as_text).sort_index(),
        slow.astype(as_text).sort_index(),
        check_dtype=False,
        check_index_type=False,
        check_categorical=False,
    )


@st.composite
def administrations(draw: st.DrawFn) -> pd.DataFrame:
    """A small administrations table: repeated and skipped sessions, missing totals, rows of
    other instruments and raters, episode columns filled on some rows only, any row order."""
    n_episodes = draw(st.integers(1, 6))
    rows = []
    for episode in range(n_episodes):
        client = draw(st.sampled_from(["C1", "C2", "C3"]))
        therapist = draw(st.sampled_from(["T1", "T2"]))
        for _ in range(draw(st.integers(1, 7))):
            session = draw(st.integers(1, 5))
            rows.append(
                {
                    "client_id": client,
                    "episode_id": f"E{episode}",
                    "therapist_id": therapist,
                    "session_number": session,
                    "session_date": START + pd.Timedelta(days=7 * session),
                    "instrument": draw(st.sampled_from(["ors", "ors", "srs"])),
                    "rater": draw(st.sampled_from(["client", "client", "parent"])),
                    "total": draw(st.one_of(st.none(), st.integers(0, 40).map(lambda t: t / 1.0))),
                    "team_id": draw(st.sampled_from([None, "north", "south"])),
                    "age_band": draw(st.sampled_from([None, "adult", "child"])),
                    "ending": draw(st.sampled_from([None, None, "planned", "unilateral"])),
                }
            )
    frame = pd.DataFrame(rows)
    frame["total"] = frame["total"].astype(float)
    order = draw(st.permutations(range(len(frame))))
    frame = frame.iloc[list(order)].reset_index(drop=True)
    kept = draw(st.sets(st.sampled_from(EPISODE_COLUMNS)))
    return frame.drop(columns=[c for c in EPISODE_COLUMNS if c not in kept])


@settings(max_examples=80, deadline=None)
@given(
    frame=administrations(),
    instrument=st.sampled_from(["ors", "srs"]),
    rater=st.sampled_from(["client", "parent"]),
    categorical=st.booleans(),
)
def test_episode_outcomes_agrees_with_the_pandas_oracle_on_random_tables(
    frame: pd.DataFrame, instrument: str, rater: str, categorical: bool
) -> None:
    slow = oracle.episode_outcomes(frame, instrument=instrument, rater=rater)
    if categorical:  # as read from a CSV file or the database
        text = [c for c in TEXT_COLUMNS + EPISODE_COLUMNS if c in frame.columns]
        frame = frame.astype(dict.fromkeys(text, "category"))
    assert_same_episodes(episode_outcomes(frame, instrument=instrument, rater=rater), slow)


def test_episode_outcomes_agrees_with_the_oracle_on_simulated_data() -> None:
    frame = simulate(800, 12, seed=21)
    frame.loc[frame.index[::7], "ending"] = pd.NA  # endings filled on some rows only
    for instrument, rater in (("ors", "client"), ("cors", "parent"), ("srs", "client")):
        fast = episode_outcomes(frame, instrument=instrument, rater=rater)
        assert_same_episodes(fast, oracle.episode_outcomes(frame, instrument, rater))
    # Text columns as categoricals (as read from a CSV or the database): the same table.
    text = ["client_id", "episode_id", "therapist_id", "instrument", "rater", "team_id"]
    coded = frame.astype(dict.fromkeys([*text, "age_band", "ending"], "category"))
    for instrument, rater in (("ors", "client"), ("cors", "parent")):
        pd.testing.assert_frame_equal(
            episode_outcomes(coded, instrument, rater), episode_outcomes(frame, instrument, rater)
        )


def test_effectiveness_episode_table_is_the_one_per_episode_table() -> None:
    assert effectiveness.episode_table is episode_outcomes
