"""Per-episode outcome and alliance series: the input of the alliance-outcome analyses.

One row per episode that has an outcome score, with the outcome intake/final (as
``effectiveness.episode_table`` defines them), the episode's alliance ratings in session order,
and the mean of the first ``first_k`` alliance ratings that precede the final outcome score (the
ORS of a session is rated at its start, the SRS at its end, so an SRS of session s precedes only
outcome scores of later sessions). Pure pandas/numpy; no Django.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.effectiveness import episode_table
from alliance.science.instruments import get_instrument

FloatArray = npt.NDArray[np.float64]
DEFAULT_FIRST_K = 3


class AllianceDataError(ValueError):
    """The table cannot support the analysis asked for; the message says why and what to do."""


@dataclass(frozen=True)
class AllianceSeries:
    """Alliance ratings of every episode, flattened in episode then session order."""

    episode_id: npt.NDArray[np.object_]
    session: npt.NDArray[np.int64]
    total: FloatArray

    def starts(self) -> npt.NDArray[np.int64]:
        """Index of each episode's first rating (episodes are contiguous)."""
        if len(self.episode_id) == 0:
            return np.zeros(0, dtype=np.int64)
        change = np.flatnonzero(self.episode_id[1:] != self.episode_id[:-1]) + 1
        return np.concatenate([[0], change]).astype(np.int64)


def alliance_series(
    frame: pd.DataFrame, alliance_instrument: str = "srs", rater: str = "client"
) -> AllianceSeries:
    """The alliance ratings of ``rater`` on ``alliance_instrument``, sorted by episode and session.

    When one session holds two ratings (a data-entry duplicate), their mean counts once.
    """
    rows = frame.loc[
        (frame["instrument"].astype("string") == alliance_instrument)
        & (frame["rater"].astype("string") == rater),
        ["episode_id", "session_number", "total"],
    ]
    rows = (
        rows.astype({"episode_id": "string", "session_number": "int64", "total": "float64"})
        .groupby(["episode_id", "session_number"], sort=True)["total"]
        .mean()
        .reset_index()
    )
    return AllianceSeries(
        episode_id=rows["episode_id"].to_numpy(dtype=object),
        session=rows["session_number"].to_numpy(dtype=np.int64),
        total=rows["total"].to_numpy(dtype=float),
    )


def alliance_episodes(
    frame: pd.DataFrame,
    *,
    instrument: str = "ors",
    alliance_instrument: str = "srs",
    rater: str = "client",
    first_k: int = DEFAULT_FIRST_K,
) -> pd.DataFrame:
    """Episode outcomes joined with their early alliance.

    Columns: those of ``episode_table`` plus ``first_alliance`` (the first rating),
    ``early_alliance`` (mean of the first ``first_k`` ratings made before the final outcome
    session; NaN when there is none), ``n_early`` (how many went into it) and ``n_alliance`` (all
    ratings of the episode).
    """
    if first_k < 1:
        raise AllianceDataError(f"--first-k must be 1 or more, not {first_k}")
    outcomes = episode_table(frame, instrument, rater)
    series = alliance_series(frame, alliance_instrument, rater)
    if len(series.total) == 0:
        raise AllianceDataError(
            f"no {alliance_instrument.upper()} ratings in the table: the alliance analyses need "
            "the alliance scale rated in the episodes"
        )
    ratings = pd.DataFrame(
        {"episode_id": series.episode_id, "session": series.session, "total": series.total}
    )
    ratings["episode_id"] = ratings["episode_id"].astype("string")
    last_session = outcomes["last_session"].rename("last_session")
    ratings = ratings.join(last_session, on="episode_id", how="inner")
    early = ratings[ratings["session"] < ratings["last_session"]]
    early = early[early.groupby("episode_id").cumcount() < first_k]
    grouped = ratings.groupby("episode_id")["total"]
    result = outcomes.copy()
    result["first_alliance"] = grouped.first()
    result["n_alliance"] = grouped.size()
    result["early_alliance"] = early.groupby("episode_id")["total"].mean()
    result["n_early"] = early.groupby("episode_id").size()
    result[["n_alliance", "n_early"]] = result[["n_alliance", "n_early"]].fillna(0).astype(int)
    return result


def higher_is_better(instrument: str) -> bool:
    return get_instrument(instrument).higher_is_better


def closed(episodes: pd.DataFrame) -> pd.DataFrame:
    """Closed episodes when the table says which ended (column ``ending``), else all of them."""
    if "ending" not in episodes.columns:
        return episodes
    ending = episodes["ending"].astype("string").fillna("")
    return episodes[ending != ""]
