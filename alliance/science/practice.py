"""Measures a therapist can choose as the target of a deliberate-practice objective.

Each measure is a share with its 95% Wilson interval, computed from an administrations table by
the alliance profile and hard-to-engage functions. ``before_after`` splits the therapist's
episodes by the date their first session took place: episodes begun before the objective was
set against episodes begun on or after it (Chow et al. 2015 link time spent in deliberate
practice to therapists' outcomes; the comparison here only shows whether the chosen measure
moved, with its uncertainty).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pandas as pd

from alliance.science.alliance_episodes import AllianceDataError
from alliance.science.alliance_profile import alliance_profile, hard_to_engage

Share = dict[str, Any]


def _profile(frame: pd.DataFrame, **options: Any) -> dict[str, Any]:
    return alliance_profile(frame, **options)["agency"]


def _hard(frame: pd.DataFrame, **options: Any) -> dict[str, Any]:
    return hard_to_engage(frame, **options)["agency"]["hard"]


# name -> (plain-language label, whether higher is better, how to read it from a table)
MEASURES: dict[str, tuple[str, bool, Callable[..., Share]]] = {
    "first_at_ceiling": (
        "First sessions rated at the SRS ceiling",
        False,
        lambda f, **o: _profile(f, **o)["first_at_ceiling"],
    ),
    "below_cutoff": (
        "Sessions rated below the alliance cutoff",
        True,  # more honest low ratings are the aim when feedback is invited
        lambda f, **o: _profile(f, **o)["below_cutoff"],
    ),
    "ruptures_repaired": (
        "Alliance ruptures repaired",
        True,
        lambda f, **o: _profile(f, **o)["ruptures_repaired"],
    ),
    "rising_alliance": (
        "Episodes whose alliance rises",
        True,
        lambda f, **o: _profile(f, **o)["trend"]["rising"],
    ),
    "hard_reliable_improvement": (
        "Reliable improvement of hard-to-engage clients",
        True,
        lambda f, **o: _hard(f, **o)["reliable_improvement"],
    ),
    "hard_dropout": (
        "Drop-out of hard-to-engage clients",
        False,
        lambda f, **o: _hard(f, **o)["dropout"],
    ),
}


def measure(frame: pd.DataFrame, name: str, **options: Any) -> Share:
    """The measure ``name`` on ``frame``; an empty share when the table cannot support it."""
    if name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; choose one of {', '.join(MEASURES)}")
    if frame.empty:
        return {"k": 0, "n": 0, "share": None, "low": None, "high": None}
    try:
        return MEASURES[name][2](frame, **options)
    except AllianceDataError:
        return {"k": 0, "n": 0, "share": None, "low": None, "high": None}


def before_after(
    frame: pd.DataFrame, name: str, since: datetime.date, **options: Any
) -> dict[str, Share]:
    """The measure on episodes begun before ``since`` and on those begun on or after it."""
    first = pd.to_datetime(frame["session_date"]).groupby(frame["episode_id"]).transform("min")
    after = first.dt.date >= since
    return {
        "before": measure(frame[~after.to_numpy()], name, **options),
        "after": measure(frame[after.to_numpy()], name, **options),
    }
