"""Fitting an ETR model: the longitudinal scores of closed episodes and the moment estimates."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.etr.model import EtrError, EtrModel, EtrParameters, FloatArray

DEFAULT_MIN_EPISODES = 200


@dataclass(frozen=True)
class Longitudinal:
    """Scored administrations of one instrument, one row per (episode, session index)."""

    episode: npt.NDArray[np.int64]  # 0..n_episodes-1
    session: npt.NDArray[np.int64]  # 1 = the intake administration
    score: FloatArray
    intake: FloatArray  # the episode's intake, per row
    episode_ids: npt.NDArray[np.object_]
    last_session: npt.NDArray[np.int64]  # per episode
    closed: npt.NDArray[np.bool_]  # per episode


def longitudinal_scores(
    frame: pd.DataFrame, instrument: str = "ors", rater: str = "client"
) -> Longitudinal:
    """Rows of one instrument and rater, with the session counted from each episode's intake.

    Episodes whose first scored session is not session 1 still start at index 1: the ETR describes
    change since the first score. A repeated session number keeps its first row.
    """
    missing = [
        c
        for c in ("episode_id", "session_number", "instrument", "rater", "total")
        if c not in frame.columns
    ]
    if missing:
        raise EtrError("the table lacks column(s): " + ", ".join(missing))
    mask = (
        (frame["instrument"] == instrument) & (frame["rater"] == rater) & frame["total"].notna()
    ).to_numpy(dtype=bool)
    columns = ["episode_id", "session_number", "total"]
    has_ending = "ending" in frame.columns
    rows = frame.loc[mask, columns + (["ending"] if has_ending else [])]
    rows = rows.sort_values(["episode_id", "session_number"], kind="stable")
    rows = rows.drop_duplicates(["episode_id", "session_number"], keep="first")
    codes, episode_ids = pd.factorize(rows["episode_id"], sort=False)
    codes = codes.astype(np.int64)
    numbers = rows["session_number"].to_numpy(dtype=np.int64)
    scores = rows["total"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if codes.size else codes
    first_number = numbers[starts][codes]
    session = numbers - first_number + 1
    last_session = np.zeros(len(episode_ids), dtype=np.int64)
    np.maximum.at(last_session, codes, session)
    if has_ending:
        ended = rows["ending"].notna().to_numpy(dtype=bool)
        closed = np.bincount(codes, weights=ended, minlength=len(episode_ids)) > 0
    else:  # without an ending column every episode is treated as finished
        closed = np.ones(len(episode_ids), dtype=bool)
    return Longitudinal(
        episode=codes,
        session=session,
        score=scores,
        intake=scores[starts][codes],
        episode_ids=np.asarray(episode_ids, dtype=object),
        last_session=last_session,
        closed=closed,
    )


def fit(
    frame: pd.DataFrame,
    instrument: str = "ors",
    rater: str = "client",
    *,
    negative_percentile: float = 25.0,
    min_episodes: int = DEFAULT_MIN_EPISODES,
    name: str | None = None,
    provenance: str | None = None,
    provisional: bool = False,
    score_range: tuple[float, float] | None = None,
    reliable_change: float | None = None,
    higher_is_better: bool | None = None,
) -> EtrModel:
    """Fit an ETR model on the closed episodes (with >= 2 scores) of an administrations table.

    The instrument's range, direction and reliable change come from its definition unless given.
    """
    if not 0.0 < negative_percentile < 50.0:
        raise EtrError(
            f"the negative percentile must be between 0 and 50, not {negative_percentile:g}"
        )
    scale = _scale(instrument, score_range, reliable_change, higher_is_better)
    data = usable_episodes(longitudinal_scores(frame, instrument, rater))
    n_episodes = int(data.last_session.size)
    if n_episodes < min_episodes:
        raise EtrError(
            f"too little data to fit an ETR: {n_episodes} closed {instrument.upper()} episode(s) "
            f"with 2 or more scores, at least {min_episodes} needed"
        )
    parameters = _finite(_fit_parameters(data))
    finals = np.bincount(data.last_session)
    final_sessions = {int(k): float(c) / n_episodes for k, c in enumerate(finals) if c > 0}
    today = dt.date.today().isoformat()
    return EtrModel(
        name=name or f"{instrument.lower()}-etr-{today}",
        instrument=instrument.lower(),
        parameters=parameters,
        score_min=scale[0],
        score_max=scale[1],
        higher_is_better=scale[2],
        reliable_change=scale[3],
        final_sessions=final_sessions,
        n_episodes=n_episodes,
        n_administrations=int(data.score.size),
        fitted_on=today,
        provenance=provenance
        or f"Fitted on {n_episodes} closed episodes ({data.score.size} administrations) on {today}.",
        provisional=provisional,
        negative_percentile=float(negative_percentile),
    )


def _finite(parameters: EtrParameters) -> EtrParameters:
    """Refuse a fit whose parameters are not all finite: such a model would predict nonsense."""
    bad = [f.name for f in fields(parameters) if not math.isfinite(getattr(parameters, f.name))]
    if bad:
        raise EtrError(
            "the fit gave non-finite parameter(s) " + ", ".join(bad) + "; no model was written"
            " (too little variation in the scores?)"
        )
    return parameters


def _scale(
    instrument: str,
    score_range: tuple[float, float] | None,
    reliable_change: float | None,
    higher_is_better: bool | None,
) -> tuple[float, float, bool, float]:
    if score_range is None or reliable_change is None or higher_is_better is None:
        definition = _instrument_definition(instrument)
        score_range = score_range or (float(definition.total_min), float(definition.total_max))
        if higher_is_better is None:
            higher_is_better = bool(definition.higher_is_better)
        if reliable_change is None:
            if definition.reliable_change is None:
                raise EtrError(f"instrument {instrument!r} defines no reliable change; give one")
            reliable_change = float(definition.reliable_change)
    if not score_range[0] < score_range[1]:
        raise EtrError(f"score range must be (minimum, maximum), not {score_range!r}")
    if not reliable_change > 0:
        raise EtrError(f"reliable change must be above 0, not {reliable_change!r}")
    return float(score_range[0]), float(score_range[1]), bool(higher_is_better), reliable_change


def _instrument_definition(instrument: str) -> Any:
    try:
        from alliance.science.instruments import get_instrument
    except ImportError as error:  # pragma: no cover - the instruments module ships with the package
        raise EtrError("instrument definitions are not available") from error
    try:
        return get_instrument(instrument)
    except ValueError as error:  # the instruments module's message lists the known codes
        raise EtrError(str(error)) from error


def usable_episodes(data: Longitudinal) -> Longitudinal:
    keep_episode = data.closed & (data.last_session >= 2)
    keep_row = keep_episode[data.episode]
    new_codes = np.cumsum(keep_episode) - 1
    return Longitudinal(
        episode=new_codes[data.episode[keep_row]],
        session=data.session[keep_row],
        score=data.score[keep_row],
        intake=data.intake[keep_row],
        episode_ids=data.episode_ids[keep_episode],
        last_session=data.last_session[keep_episode],
        closed=data.closed[keep_episode],
    )


def _fit_parameters(data: Longitudinal) -> EtrParameters:
    later = data.session >= 2
    episode = data.episode[later]
    log_k = np.log(data.session[later].astype(float))
    intake = data.intake[later]
    change = data.score[later] - intake
    centre = float(np.mean(data.intake[data.session == 1]))
    design = np.column_stack([log_k, log_k * (intake - centre)])
    coefficients, *_ = np.linalg.lstsq(design, change, rcond=None)
    residuals = change - design @ coefficients
    g11, g12, g22 = _random_effect_moments(episode, log_k, residuals)
    random_part = g11 + 2.0 * g12 * log_k + g22 * log_k**2
    var_residual = max(float(np.mean(residuals**2 - random_part)), 1e-6)
    return EtrParameters(
        slope_at_centre=float(coefficients[0]),
        intake_slope=float(coefficients[1]),
        intake_centre=centre,
        var_intercept=g11,
        cov_intercept_slope=g12,
        var_slope=g22,
        var_residual=var_residual,
    )


def _random_effect_moments(
    episode: npt.NDArray[np.int64], log_k: FloatArray, residuals: FloatArray
) -> tuple[float, float, float]:
    """Covariance (G11, G12, G22) of the random intercept and slope from residual cross-products.

    For two different sessions j, k of one episode E[r_j r_k] = G11 + G12 (l_j + l_k) + G22 l_j l_k,
    so G is the least-squares fit of all within-episode products on (1, l_j + l_k, l_j l_k). Every
    sum over pairs follows from per-episode sums, so no pair is ever formed. Each episode's pairs
    are weighted by 1 / (n - 1), giving long episodes weight in proportion to their length, not
    its square.
    """

    def per_episode(values: FloatArray) -> FloatArray:
        return np.bincount(episode, weights=values)

    r, lk = residuals, log_k
    n = per_episode(np.ones_like(lk))
    s_l, s_l2, s_l3, s_l4 = (per_episode(lk**p) for p in (1, 2, 3, 4))
    s_r, s_r2, s_rl = per_episode(r), per_episode(r**2), per_episode(r * lk)
    s_r2l, s_r2l2 = per_episode(r**2 * lk), per_episode(r**2 * lk**2)
    weight = np.where(n > 1, 1.0 / np.maximum(n - 1.0, 1.0), 0.0)
    # Sums over ordered pairs j != k within each episode.
    x_one = n * n - n
    x_sum = 2.0 * (n - 1.0) * s_l
    x_prod = s_l**2 - s_l2
    xx = np.array(
        [
            [x_one, x_sum, x_prod],
            [x_sum, 2.0 * (n - 1.0) * s_l2 + 2.0 * x_prod, 2.0 * (s_l2 * s_l - s_l3)],
            [x_prod, 2.0 * (s_l2 * s_l - s_l3), s_l2**2 - s_l4],
        ]
    )
    xy = np.array([s_r**2 - s_r2, 2.0 * (s_rl * s_r - s_r2l), s_rl**2 - s_r2l2])
    lhs = (xx * weight).sum(axis=-1)
    rhs = (xy * weight).sum(axis=-1)
    solution = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    covariance = np.array([[solution[0], solution[1]], [solution[1], solution[2]]])
    # Moment estimates can fall outside the valid region; keep the nearest valid covariance.
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    valid = eigenvectors @ np.diag(np.maximum(eigenvalues, 0.0)) @ eigenvectors.T
    return float(valid[0, 0]), float(valid[0, 1]), float(valid[1, 1])
