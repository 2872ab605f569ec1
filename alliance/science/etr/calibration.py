"""Checking an ETR model on held-out episodes: success calibration, the red signal, AUC."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alliance.science.etr.fitting import Longitudinal, longitudinal_scores, usable_episodes
from alliance.science.etr.model import EtrError, EtrModel, FloatArray


def calibrate(
    frame: pd.DataFrame,
    model: EtrModel,
    *,
    rater: str = "client",
    at_session: int = 3,
    signal_sessions: tuple[int, int] = (3, 4),
    bins: int = 10,
) -> dict[str, Any]:
    """Check a model on held-out closed episodes.

    ``success``: the success probability computed from the scores up to ``at_session`` (episodes
    that went on beyond it, so the final score is never one of the inputs), grouped by decile of prediction, against the observed rate of
    reliable improvement at the last score; plus Brier score and AUC.
    ``red_signal``: an episode is red when a score at sessions 3-4 (``signal_sessions``) is below
    the negative line; a poor outcome is a final change short of reliable improvement. Only
    episodes with a score in that window that went on beyond it count. Reports sensitivity,
    specificity and the AUC of red and of the lowest percentile in the window.
    """
    data = usable_episodes(longitudinal_scores(frame, model.instrument, rater))
    if data.last_session.size == 0:
        raise EtrError(f"no closed {model.instrument.upper()} episodes with 2 or more scores")
    improved = _reliably_improved(data, model)
    success = _success_calibration(data, model, improved, at_session, bins)
    red = _red_signal_calibration(data, model, improved, signal_sessions)
    return {
        "model": model.name,
        "provisional": model.provisional,
        "instrument": model.instrument,
        "n_episodes": int(data.last_session.size),
        "poor_outcome": "final change short of reliable improvement "
        f"({model.reliable_change:g} points)",
        "success": success,
        "red_signal": red,
    }


def _reliably_improved(data: Longitudinal, model: EtrModel) -> npt.NDArray[np.bool_]:
    is_last = data.session == data.last_session[data.episode]
    final = np.empty(data.last_session.size)
    final[data.episode[is_last]] = data.score[is_last]
    intake = np.empty(data.last_session.size)
    first = data.session == 1
    intake[data.episode[first]] = data.score[first]
    return np.asarray(model.direction * (final - intake) >= model.reliable_change)


def _success_calibration(
    data: Longitudinal,
    model: EtrModel,
    improved: npt.NDArray[np.bool_],
    at_session: int,
    bins: int,
) -> dict[str, Any]:
    # Only episodes that went on beyond ``at_session``: were the final score one of the scores
    # the prediction is made from, the check would grade the model on its own input.
    eligible = np.flatnonzero(data.last_session > at_session)
    if eligible.size == 0:
        return {"n": 0, "at_session": at_session, "deciles": []}
    early = data.session <= at_session
    by_episode = _group_rows(data.episode[early], data.session[early], data.score[early])
    predicted = np.array(
        [
            model.success_probability(
                float(by_episode[e][1][0]), _pairs(by_episode[e]), going_on=True
            )
            for e in eligible.tolist()
        ]
    )
    observed = improved[eligible].astype(float)
    return {
        "n": int(eligible.size),
        "at_session": at_session,
        "mean_predicted": float(predicted.mean()),
        "observed_rate": float(observed.mean()),
        "brier": float(np.mean((predicted - observed) ** 2)),
        "auc": auc(predicted, observed.astype(bool)),
        "deciles": calibration_table(predicted, observed.astype(bool), bins),
    }


def _red_signal_calibration(
    data: Longitudinal,
    model: EtrModel,
    improved: npt.NDArray[np.bool_],
    window: tuple[int, int],
) -> dict[str, Any]:
    low, high = window
    in_window = (data.session >= low) & (data.session <= high)
    in_window &= data.last_session[data.episode] > high
    episode = data.episode[in_window]
    pct = model._percentiles(data.intake[in_window], data.session[in_window], data.score[in_window])
    n_episodes = data.last_session.size
    lowest = np.full(n_episodes, np.inf)
    np.minimum.at(lowest, episode, pct)
    counted = np.isfinite(lowest)
    red = lowest[counted] < model.negative_percentile
    poor = ~improved[counted]
    sensitivity, specificity = sensitivity_specificity(red, poor)
    return {
        "sessions": [low, high],
        "n": int(counted.sum()),
        "n_poor": int(poor.sum()),
        "n_red": int(red.sum()),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "auc_red": auc(red.astype(float), poor),
        "auc_percentile": auc(-lowest[counted], poor),
    }


def _group_rows(
    episode: npt.NDArray[np.int64], session: npt.NDArray[np.int64], score: FloatArray
) -> dict[int, tuple[npt.NDArray[np.int64], FloatArray]]:
    order = np.argsort(episode, kind="stable")
    episode, session, score = episode[order], session[order], score[order]
    bounds = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1], True])
    return {
        int(episode[a]): (session[a:b], score[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    }


def _pairs(rows: tuple[npt.NDArray[np.int64], FloatArray]) -> list[tuple[int, float]]:
    return [(int(k), float(y)) for k, y in zip(rows[0], rows[1], strict=True) if k >= 2]


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    None when there are no positives or no negatives (the AUC is undefined).
    """
    values = np.asarray(scores, dtype=float)
    positive = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy import stats  # here: importing scipy.stats costs ~0.3 s every ETR command

    ranks = stats.rankdata(values)  # average ranks handle ties (Mann-Whitney U)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def sensitivity_specificity(
    flagged: npt.ArrayLike, positive: npt.ArrayLike
) -> tuple[float | None, float | None]:
    """(P(flagged | positive), P(not flagged | negative)); None where undefined."""
    flag = np.asarray(flagged, dtype=bool)
    truth = np.asarray(positive, dtype=bool)
    sensitivity = float(flag[truth].mean()) if truth.any() else None
    specificity = float((~flag[~truth]).mean()) if (~truth).any() else None
    return sensitivity, specificity


def calibration_table(
    predicted: npt.ArrayLike, observed: npt.ArrayLike, bins: int = 10
) -> list[dict[str, float | int]]:
    """Predicted vs observed by quantile group (deciles by default) of the prediction."""
    p = np.asarray(predicted, dtype=float)
    o = np.asarray(observed, dtype=float)
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, p.size))
    return [
        {
            "group": i + 1,
            "n": int(g.size),
            "mean_predicted": float(p[g].mean()),
            "observed_rate": float(o[g].mean()),
        }
        for i, g in enumerate(groups)
        if g.size
    ]
