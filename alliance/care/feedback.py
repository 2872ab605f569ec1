"""The bridge to the science core: ETR model and signals for one episode's scores.

The science modules own every rule (zones, alliance cutoff, conversation timing); this module
only gathers an episode's scores into the shapes they expect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.utils.translation import gettext as _

from alliance.science import etr
from alliance.science.etr import EtrError, EtrModel, Trajectory
from alliance.science.instruments import Instrument, get_instrument
from alliance.science.signals import AllianceScore, EpisodeSignals, evaluate_episode

from .models import Administration, Episode, FittedModel


def model_for(agency_id: int | None, instrument: str) -> EtrModel:
    """The ETR model in use: the agency's activated fitted model, else the shipped default.

    Zones, alerts, graphs and reports all ask here, so they always agree on the model.
    Raises EtrError when there is none (YCORS, PHQ-9, ...); see ``model_or_none``.
    """
    if agency_id is not None:
        stored = (
            FittedModel.objects.filter(agency_id=agency_id, instrument=instrument, active=True)
            .values_list("parameters", flat=True)
            .first()
        )
        if stored:
            return etr.model_from_dict(stored)
    return etr.default_model(instrument)


def model_description(model: EtrModel) -> str:
    """What every graph and report says about its model."""
    if model.provisional:
        return _("provisional default model")
    return _("agency model fitted on %(n)s episodes on %(date)s") % {
        "n": model.n_episodes,
        "date": model.fitted_on,
    }


def model_or_none(agency_id: int | None, instrument: str) -> EtrModel | None:
    """The ETR model for an instrument, or None: such episodes show scores and cutoffs only."""
    try:
        return model_for(agency_id, instrument)
    except EtrError:
        return None


class NoModel:
    """Stands in for a missing ETR model: no target, no negative line, so sessions stay grey.

    It never invents an expectation; the signals treat NaN as "nothing to compare with".
    """

    provisional = False

    def predict(self, intake: float, sessions) -> Trajectory:
        sessions = np.asarray(sessions, dtype=np.int64).reshape(-1)
        missing = np.full(sessions.shape, np.nan)
        return Trajectory(intake=float(intake), sessions=sessions, target=missing, negative=missing)


@lru_cache(maxsize=32)
def instrument_for(code: str, language: str = "en") -> Instrument:
    return get_instrument(code, language)


@dataclass(frozen=True)
class EpisodeFeedback:
    outcome: list[tuple[int, float]]
    alliance: list[AllianceScore]
    signals: EpisodeSignals
    model: EtrModel | None


def client_scores(
    episode: Episode, administrations: Iterable[Administration]
) -> tuple[list[tuple[int, float]], list[AllianceScore]]:
    """The client's own outcome and alliance totals by session number (collaterals excluded)."""
    outcome: list[tuple[int, float]] = []
    alliance: list[AllianceScore] = []
    for administration in administrations:
        if administration.rater != "client":
            continue
        number = administration.session.number
        if administration.instrument == episode.outcome_instrument:
            outcome.append((number, administration.total))
        elif administration.instrument == episode.alliance_instrument:
            alliance.append(
                AllianceScore(
                    number,
                    administration.total,
                    dict(administration.items),
                    administration.total_only,
                )
            )
    outcome.sort()
    alliance.sort(key=lambda score: score.session_number)
    return outcome, alliance


def episode_feedback(
    episode: Episode, administrations: Iterable[Administration]
) -> EpisodeFeedback:
    outcome, alliance = client_scores(episode, administrations)
    model = model_or_none(episode.agency_id, episode.outcome_instrument)
    signals = evaluate_episode(
        outcome,
        alliance,
        model=model if model is not None else NoModel(),
        instrument=episode.outcome_instrument,
        alliance_instrument=episode.alliance_instrument,
        age_band=episode.client.age_band,
    )
    return EpisodeFeedback(outcome=outcome, alliance=alliance, signals=signals, model=model)
