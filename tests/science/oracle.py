"""Slow, obviously-correct pandas versions of the science core's fast kernels, for tests only.

``episode_outcomes`` is the original group-by definition of the per-episode table; the fast one in
``alliance.science.table`` (on integer codes) must agree with it on any table.
"""

from __future__ import annotations

import pandas as pd

from alliance.science.table import EPISODE_COLUMNS


def episode_outcomes(
    frame: pd.DataFrame, instrument: str = "ors", rater: str = "client"
) -> pd.DataFrame:
    """One row per episode with its intake (first score) and final (last score), sorted by id."""
    rows = frame.loc[
        (frame["instrument"] == instrument) & (frame["rater"] == rater) & frame["total"].notna()
    ]
    rows = rows.sort_values(["episode_id", "session_number"], kind="stable")
    grouped = rows.groupby("episode_id", sort=False, observed=True)
    extra = [c for c in EPISODE_COLUMNS if c in rows.columns]
    firsts = grouped[
        ["client_id", "therapist_id", "total", "session_number", "session_date"]
    ].first()
    lasts = grouped[["total", "session_number", "session_date"]].last()
    result = pd.DataFrame(
        {
            "client_id": firsts["client_id"],
            "therapist_id": firsts["therapist_id"],
            "intake": firsts["total"],
            "final": lasts["total"],
            "n_scores": grouped.size(),
            "first_session": firsts["session_number"],
            "last_session": lasts["session_number"],
            "first_date": firsts["session_date"],
            "last_date": lasts["session_date"],
        }
    )
    result["change"] = result["final"] - result["intake"]
    result["days"] = (result["last_date"] - result["first_date"]).dt.days
    if extra:
        # Episode columns may be filled only on some rows (e.g. ending on the last one).
        episode_values = (
            frame.loc[frame["episode_id"].isin(result.index)]
            .groupby("episode_id", sort=False, observed=True)[extra]
            .first()
        )
        result = result.join(episode_values)
    result.index.name = "episode_id"
    return result
