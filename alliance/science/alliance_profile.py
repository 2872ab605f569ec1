"""A therapist's alliance profile and their outcomes with the clients who are hardest to engage.

Everything is per therapist, with the agency (the whole table) alongside, as plain numbers with
95% intervals; docs/therapist-development.md explains how to read each one.

Alliance profile (SRS by default, cutoff from the instrument file):
- ``below_cutoff``: share of rated sessions below the alliance cutoff (36 for the SRS).
- ``first_at_ceiling``: share of episodes whose first rating is at or above ``ceiling`` (39): a
  first session rated near the top usually means honest negative feedback is not yet invited
  (Miller, Hubble & Duncan's "culture of feedback"; Owen et al. 2016).
- Ruptures: a rating ``rupture_drop`` (2) or more points below the previous one, or a fall from
  at/above the cutoff to below it. A rupture is repaired when one of the next ``repair_window``
  (2) ratings is back at or above the rating before the rupture (Eubanks, Muran & Safran 2018:
  repair goes with better outcomes). A rupture at the episode's last rating cannot be judged and
  is counted apart (``ruptures_at_last``).
- Trend within episodes with at least 3 ratings: the least-squares line of the ratings over the
  session numbers rises (``rising``) or falls by at least ``trend_points`` (1) point from the
  first to the last rated session, otherwise it is flat (Owen et al. 2016: alliances that grow go
  with better outcomes).
- Repaired against unrepaired episodes: mean outcome change and reliable improvement of episodes
  whose ruptures were all repaired and of episodes with an unrepaired one.

Hard-to-engage clients: an episode is "hard" when its first alliance rating is below the cutoff
or its intake outcome score is in the agency's worst quarter (at or below the 25th percentile
when higher is better), or both. For each therapist, drop-out (unilateral ending among closed
episodes), mean change and reliable improvement for hard and other clients, against the agency's
hard clients. The therapist's hard-client estimates are shrunken toward the agency's (empirical
Bayes, normal approximation; the between-therapist variance by the method of moments), so a
caseload of three does not look like a verdict; ``differs`` is set only when the shrunken
estimate's 95% interval excludes the agency value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.alliance_episodes import (
    AllianceDataError,
    AllianceSeries,
    alliance_episodes,
    alliance_series,
    higher_is_better,
)
from alliance.science.change import categorize
from alliance.science.effectiveness import wilson_interval
from alliance.science.instruments import get_instrument

Z_95 = 1.959963984540054
FloatArray = npt.NDArray[np.float64]
HARD_INTAKE_QUANTILE = 0.25
# Below this many episodes a therapist's estimate is shown as "not enough data yet".
MIN_EPISODES = 10


@dataclass(frozen=True)
class ProfileRules:
    ceiling: float = 39.0
    rupture_drop: float = 2.0
    repair_window: int = 2
    trend_points: float = 1.0


@dataclass(frozen=True)
class _Ruptures:
    """Per rating: is it a rupture, and was it repaired (None: at the last rating)."""

    rupture: npt.NDArray[np.bool_]
    repaired: npt.NDArray[np.bool_]
    at_last: npt.NDArray[np.bool_]


def find_ruptures(series: AllianceSeries, cutoff: float, rules: ProfileRules) -> _Ruptures:
    """Flag ruptures and repairs in every episode's ratings (vectorised over all episodes)."""
    total, n = series.total, len(series.total)
    starts = series.starts()
    episode_index = np.zeros(n, dtype=np.int64)
    if n:
        episode_index[starts[1:]] = 1
        episode_index = np.cumsum(episode_index)
    previous = np.roll(total, 1)
    has_previous = np.ones(n, dtype=bool)
    has_previous[starts] = False
    dropped = previous - total >= rules.rupture_drop
    fell_below = (previous >= cutoff) & (total < cutoff)
    rupture = has_previous & (dropped | fell_below)
    repaired = np.zeros(n, dtype=bool)
    has_next = np.zeros(n, dtype=bool)
    for step in range(1, rules.repair_window + 1):
        later = np.roll(total, -step)
        same_episode = np.roll(episode_index, -step) == episode_index
        same_episode[n - step :] = False
        has_next |= same_episode & (step == 1)
        repaired |= same_episode & (later >= previous)
    return _Ruptures(rupture=rupture, repaired=rupture & repaired, at_last=rupture & ~has_next)


def alliance_profile(
    frame: pd.DataFrame,
    *,
    instrument: str = "ors",
    alliance_instrument: str = "srs",
    rater: str = "client",
    rules: ProfileRules | None = None,
) -> dict[str, Any]:
    """Alliance profile per therapist and for the agency (the whole table)."""
    rules = rules or ProfileRules()
    cutoff = _alliance_cutoff(alliance_instrument)
    episodes = alliance_episodes(
        frame, instrument=instrument, alliance_instrument=alliance_instrument, rater=rater
    )
    series = alliance_series(frame, alliance_instrument, rater)
    ratings = _ratings_table(series, cutoff, rules)
    per_episode = _episode_profile(ratings, rules)
    therapist_of = _therapist_of(frame)
    per_episode = per_episode.join(therapist_of, how="left")
    per_episode = per_episode.join(
        episodes[["change", "n_scores"]].assign(improved=_reliably_improved(episodes, instrument)),
        how="left",
    )
    ratings = ratings.join(therapist_of, on="episode_id", how="left")
    therapists = {
        str(tid): _summary(ratings[ratings["therapist_id"] == tid], part)
        for tid, part in per_episode.groupby("therapist_id", sort=True)
    }
    return {
        "alliance_instrument": alliance_instrument,
        "cutoff": cutoff,
        "rules": rules.__dict__,
        "agency": _summary(ratings, per_episode),
        "therapists": therapists,
    }


def _alliance_cutoff(code: str) -> float:
    cutoff = get_instrument(code).alliance_cutoff
    if cutoff is None:
        raise AllianceDataError(f"{code.upper()} has no alliance cutoff in its instrument file")
    return float(cutoff)


def _ratings_table(series: AllianceSeries, cutoff: float, rules: ProfileRules) -> pd.DataFrame:
    ruptures = find_ruptures(series, cutoff, rules)
    return pd.DataFrame(
        {
            "episode_id": pd.array(series.episode_id, dtype="string"),
            "session": series.session,
            "total": series.total,
            "below": series.total < cutoff,
            "rupture": ruptures.rupture,
            "repaired": ruptures.repaired,
            "at_last": ruptures.at_last,
        }
    )


def _episode_profile(ratings: pd.DataFrame, rules: ProfileRules) -> pd.DataFrame:
    grouped = ratings.groupby("episode_id", sort=False)
    result = pd.DataFrame(
        {
            "first_alliance": grouped["total"].first(),
            "n_ratings": grouped.size(),
            "ruptures": grouped["rupture"].sum(),
            "repaired": grouped["repaired"].sum(),
            "at_last": grouped["at_last"].sum(),
        }
    )
    result["first_at_ceiling"] = result["first_alliance"] >= rules.ceiling
    judged = result["ruptures"] - result["at_last"]
    result["repair_state"] = np.select(
        [judged == 0, result["repaired"] == judged], ["none", "repaired"], "unrepaired"
    )
    rise = _trend_rise(ratings)
    result["trend"] = np.select(
        [rise.isna(), rise >= rules.trend_points, rise <= -rules.trend_points],
        ["short", "rising", "falling"],
        "flat",
    )
    result["rise"] = rise
    return result


def _trend_rise(ratings: pd.DataFrame) -> pd.Series:
    """Per episode with >= 3 ratings: the fitted line's rise from first to last rated session."""
    x, y = ratings["session"].astype(float), ratings["total"]
    g = ratings.assign(x=x, xy=x * y, xx=x * x).groupby("episode_id", sort=False)
    n = g.size()
    sx, sy, sxy, sxx = g["x"].sum(), g["total"].sum(), g["xy"].sum(), g["xx"].sum()
    denominator = n * sxx - sx**2
    slope = (n * sxy - sx * sy) / denominator.where(denominator > 0)
    span = g["session"].max() - g["session"].min()
    return (slope * span).where(n >= 3)


def _therapist_of(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ("episode_id", "therapist_id", "ending") if c in frame.columns]
    first = frame[columns].drop_duplicates("episode_id").astype("string")
    return first.set_index("episode_id")


def _reliably_improved(episodes: pd.DataFrame, instrument: str) -> pd.Series:
    definition = get_instrument(instrument)
    threshold = definition.reliable_change
    if threshold is None:
        return pd.Series(np.nan, index=episodes.index)
    categories = categorize(
        episodes["intake"].to_numpy(float),
        episodes["final"].to_numpy(float),
        threshold,
        higher_is_better=definition.higher_is_better,
    )
    improved = np.isin(categories, ("improved", "recovered")).astype(float)
    return pd.Series(np.where(episodes["n_scores"] >= 2, improved, np.nan), index=episodes.index)


def _summary(ratings: pd.DataFrame, episodes: pd.DataFrame) -> dict[str, Any]:
    judged = episodes[episodes["repair_state"] != "none"]
    trended = episodes[episodes["trend"] != "short"]
    return {
        "n_episodes": len(episodes),
        "n_ratings": len(ratings),
        "enough_data": len(episodes) >= MIN_EPISODES,
        "below_cutoff": _share(int(ratings["below"].sum()), len(ratings)),
        "first_at_ceiling": _share(int(episodes["first_at_ceiling"].sum()), len(episodes)),
        "ruptures": int(ratings["rupture"].sum()),
        "ruptures_at_last": int(ratings["at_last"].sum()),
        "ruptures_repaired": _share(
            int(ratings["repaired"].sum()), int((ratings["rupture"] & ~ratings["at_last"]).sum())
        ),
        "trend": {
            "n_episodes": len(trended),
            "rising": _share(int((trended["trend"] == "rising").sum()), len(trended)),
            "flat": _share(int((trended["trend"] == "flat").sum()), len(trended)),
            "falling": _share(int((trended["trend"] == "falling").sum()), len(trended)),
            "mean_rise": _mean(trended["rise"]),
        },
        "outcome_by_repair": {
            state: _outcome(judged[judged["repair_state"] == state])
            for state in ("repaired", "unrepaired")
        },
    }


def _outcome(episodes: pd.DataFrame) -> dict[str, Any]:
    scored = episodes[episodes["n_scores"].fillna(0) >= 2]
    improved = scored["improved"].dropna()
    return {
        "n_episodes": len(scored),
        "mean_change": _mean(scored["change"]),
        "reliable_improvement": _share(int(improved.sum()), len(improved)),
    }


def _share(k: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(k, n)
    return {
        "k": k,
        "n": n,
        "share": k / n if n else None,
        "low": _finite(low),
        "high": _finite(high),
    }


def _mean(values: pd.Series) -> dict[str, Any]:
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    mean = float(values.mean())
    half = Z_95 * float(values.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return {"n": n, "mean": mean, "low": _finite(mean - half), "high": _finite(mean + half)}


# ----- hard-to-engage clients -------------------------------------------------------------------
def hard_to_engage(
    frame: pd.DataFrame,
    *,
    instrument: str = "ors",
    alliance_instrument: str = "srs",
    rater: str = "client",
) -> dict[str, Any]:
    """Outcomes with the hardest-to-engage clients, per therapist against the agency."""
    cutoff = _alliance_cutoff(alliance_instrument)
    episodes = alliance_episodes(
        frame, instrument=instrument, alliance_instrument=alliance_instrument, rater=rater
    )
    episodes = episodes[episodes["n_scores"] >= 1].copy()
    if episodes.empty:
        raise AllianceDataError(f"no {instrument.upper()} scores in the table")
    better = higher_is_better(instrument)
    intake_line = float(
        episodes["intake"].quantile(HARD_INTAKE_QUANTILE if better else 1 - HARD_INTAKE_QUANTILE)
    )
    worst_intake = (
        episodes["intake"] <= intake_line if better else episodes["intake"] >= intake_line
    )
    low_first = episodes["first_alliance"] < cutoff
    episodes["hard"] = worst_intake | low_first.fillna(False)
    episodes["improved"] = _reliably_improved(episodes, instrument)
    episodes["dropout"] = _dropouts(episodes)
    agency = {
        "hard": _engagement(episodes[episodes["hard"]]),
        "other": _engagement(episodes[~episodes["hard"]]),
    }
    per_therapist = {
        str(tid): {
            "hard": _engagement(part[part["hard"]]),
            "other": _engagement(part[~part["hard"]]),
        }
        for tid, part in episodes.groupby("therapist_id", sort=True)
    }
    _shrink_hard(per_therapist, episodes[episodes["hard"]], agency["hard"])
    return {
        "definition": (
            f"hard to engage: first {alliance_instrument.upper()} below {cutoff:g}, or intake "
            f"{instrument.upper()} {'at or below' if better else 'at or above'} "
            f"{intake_line:.1f} (the agency's worst quarter), or both"
        ),
        "intake_line": intake_line,
        "alliance_cutoff": cutoff,
        "agency": agency,
        "therapists": per_therapist,
    }


def _dropouts(episodes: pd.DataFrame) -> pd.Series:
    if "ending" not in episodes.columns:
        return pd.Series(np.nan, index=episodes.index)
    ending = episodes["ending"].astype("string").fillna("")
    return pd.Series(
        np.where(ending == "", np.nan, (ending == "unilateral").astype(float)),
        index=episodes.index,
    )


def _engagement(episodes: pd.DataFrame) -> dict[str, Any]:
    scored = episodes[episodes["n_scores"] >= 2]
    improved = scored["improved"].dropna()
    dropout = episodes["dropout"].dropna()
    return {
        "n_episodes": len(episodes),
        "enough_data": len(episodes) >= MIN_EPISODES,
        "dropout": _share(int(dropout.sum()), len(dropout)),
        "mean_change": _mean(scored["change"]),
        "reliable_improvement": _share(int(improved.sum()), len(improved)),
    }


def _shrink_hard(
    per_therapist: dict[str, dict[str, Any]], hard: pd.DataFrame, agency: dict[str, Any]
) -> None:
    """Add shrunken estimates of each therapist's hard-client results (in place)."""
    measures = {
        "dropout": hard["dropout"],
        "mean_change": hard["change"].where(hard["n_scores"] >= 2),
        "reliable_improvement": hard["improved"],
    }
    for name, values in measures.items():
        data = pd.DataFrame({"therapist_id": hard["therapist_id"], "y": values}).dropna()
        centre = agency[name]["mean" if name == "mean_change" else "share"]
        bounds = None if name == "mean_change" else (0.0, 1.0)
        estimates = shrunken_means(data, centre, bounds)
        for tid, row in estimates.iterrows():
            per_therapist[str(tid)]["hard"][name]["shrunken"] = row.to_dict()


def shrunken_means(
    data: pd.DataFrame, centre: float | None, bounds: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Empirical-Bayes means per therapist of ``y`` toward ``centre`` with 95% intervals.

    tau^2 (between therapists) by the method of moments, sigma^2 the pooled within variance; a
    therapist's weight is tau^2 / (tau^2 + sigma^2 / n). With tau^2 = 0 every estimate is the
    centre and the interval its sampling error, so nobody "differs".
    """
    columns = ["n", "estimate", "low", "high", "differs"]
    if centre is None or data.empty:
        return pd.DataFrame(columns=columns)
    groups = data.groupby("therapist_id")["y"]
    n, mean = groups.size().astype(float), groups.mean()
    within = groups.var(ddof=1).fillna(0.0) * (n - 1)
    sigma2 = float(within.sum() / max(n.sum() - len(n), 1.0))
    if not sigma2 > 0:
        sigma2 = float(data["y"].var(ddof=0)) or 1e-12
    tau2 = 0.0
    if len(n) > 1:
        tau2 = max(float(np.var(mean.to_numpy(), ddof=1)) - float((sigma2 / n).mean()), 0.0)
    weight = tau2 / (tau2 + sigma2 / n)
    estimate = centre + weight * (mean - centre)
    # Posterior variance tau^2 (1 - weight) = weight * sigma^2 / n; with tau^2 = 0 the interval
    # shown is the caseload's own sampling error around the centre.
    variance = (weight * sigma2 / n).where(weight > 0, sigma2 / n)
    half = Z_95 * np.sqrt(variance)
    result = pd.DataFrame({"n": n.astype(int), "estimate": estimate})
    result["low"], result["high"] = estimate - half, estimate + half
    if bounds is not None:
        result[["low", "high"]] = result[["low", "high"]].clip(*bounds)
    result["differs"] = (weight > 0) & ((result["low"] > centre) | (result["high"] < centre))
    return result[columns]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
