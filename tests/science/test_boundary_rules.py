"""One rule per instrument for a score exactly on the cutoff and a change of exactly the
reliable-change points, and every consumer (Instrument.is_clinical, effectiveness, the episode
signals) agreeing with it on PHQ-9, GAD-7 and ORS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.science.effectiveness import effectiveness
from alliance.science.etr import Trajectory
from alliance.science.instruments import get_instrument
from alliance.science.instruments.model import in_clinical_range, is_reliable_change
from alliance.science.signals import evaluate_episode


@pytest.mark.parametrize(
    ("code", "on_cutoff", "clinical"),
    [("phq9", 10, True), ("gad7", 8, True), ("ors", 25, False)],
)
def test_a_score_exactly_on_the_cutoff_follows_the_instruments_rule(code, on_cutoff, clinical):
    instrument = get_instrument(code)
    assert instrument.clinical_cutoff() == on_cutoff
    assert instrument.is_clinical(on_cutoff) is clinical
    assert bool(in_clinical_range(on_cutoff, on_cutoff, instrument.higher_is_better)) is clinical


@pytest.mark.parametrize(("code", "points"), [("phq9", 6), ("gad7", 4), ("ors", 5)])
def test_a_change_of_exactly_the_reliable_change_points_is_reliable(code, points):
    assert get_instrument(code).reliable_change == points
    assert is_reliable_change(points, points)
    assert not is_reliable_change(points - 0.1, points)


def test_float_noise_on_the_tenth_grid_does_not_move_a_change_across_the_threshold():
    assert is_reliable_change(25.1 - 20.1, 5.0)  # 4.999999999999998


def _episode(code: str, totals: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": "c1",
            "episode_id": "e1",
            "therapist_id": "t1",
            "session_number": range(1, len(totals) + 1),
            "session_date": pd.date_range("2025-01-06", periods=len(totals), freq="7D"),
            "instrument": code,
            "rater": "client",
            "total": totals,
            "age_band": "adult",
        }
    )


def test_effectiveness_counts_phq9_from_caseness_to_exactly_six_points_better_as_recovered():
    # Intake 15 (case), final 9 (not a case: below 10), change -6 (exactly the RC): recovered.
    frame = pd.concat(
        [
            _episode("phq9", [15, 9]),
            _episode("phq9", [16, 10]).assign(episode_id="e2", client_id="c2"),  # still a case
            _episode("phq9", [10, 4]).assign(episode_id="e3", client_id="c3"),  # intake 10: a case
        ]
    )
    overall = effectiveness(frame, instrument="phq9")["overall"]
    assert overall["reliable_improvement"]["count"] == 3
    assert overall["clinically_significant"]["count"] == 2
    assert overall["clinically_significant"]["n"] == 3


class NoExpectation:
    """No ETR model for PHQ-9: no target or negative line, so only the instrument rules speak."""

    def predict(self, intake: float, sessions) -> Trajectory:
        sessions = np.asarray(sessions, dtype=np.int64).reshape(-1)
        missing = np.full(sessions.shape, np.nan)
        return Trajectory(intake=float(intake), sessions=sessions, target=missing, negative=missing)


def test_the_signals_agree_on_exactly_the_reliable_change():
    # PHQ-9 from 10 to 16 by session 6: exactly 6 points worse is reliable deterioration.
    scores = [(1, 10.0), (3, 12.0), (6, 16.0)]
    signals = evaluate_episode(
        scores,
        [],
        model=NoExpectation(),
        instrument="phq9",
        alliance_instrument=None,
        age_band="adult",
    )
    codes = {alert.code for alert in signals.alerts}
    assert "reliable_deterioration" in codes
    assert "intake_not_clinical" not in codes  # 10 is caseness
