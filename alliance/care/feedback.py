"""The bridge to the science core: ETR model and signals for one episode's scores.

The science modules own every rule (zones, alliance cutoff, conversation timing); this module
only gathers an episode's scores into the shapes they expect.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import numpy as np
from django.utils.translation import gettext as _

from alliance.science import etr
from alliance.science.etr import EtrError, EtrModel, Trajectory
from alliance.science.instruments import Instrument, get_instrument
from alliance.science.signals import (
    SAFETY_CODE,
    AllianceScore,
    EpisodeSignals,
    SafetyResponse,
    SignalConfig,
    evaluate_episode,
)

from .models import Administration, Episode, FittedModel, Zone


def model_for(agency_id: int | None, instrument: str) -> EtrModel:
    """The ETR model in use: the agency's activated fitted model, else the shipped default.

    Zones, alerts, graphs and reports all ask here, so they always agree on the model.
    Raises EtrError when there is none (YCORS, PHQ-9, ...); see ``model_or_none``.
    """
    stored = None
    if agency_id is not None:
        stored = (
            FittedModel.objects.filter(agency_id=agency_id, instrument=instrument, active=True)
            .values_list("parameters", flat=True)
            .first()
        )
    return model_from_stored(stored, instrument)


def model_from_stored(stored: Mapping[str, object] | None, instrument: str) -> EtrModel:
    """``model_for`` from the agency's active fitted model's parameters (None: it has none),
    for a caller that read them with its own query (the rating's follow-up)."""
    if stored:
        return etr.model_from_dict(stored)
    return _shipped_model(instrument)


@lru_cache(maxsize=16)
def _shipped_model(instrument: str) -> EtrModel:
    """The shipped default model, read from its package file once per process (the follow-up of
    every rating asks for it). Nothing changes a model once read."""
    return etr.default_model(instrument)


def model_description(model: EtrModel | None) -> str:
    """What every graph and report says about its model (or its absence)."""
    if model is None:
        return _("no expected treatment response model: none exists for this instrument yet")
    if model.provisional:
        return _("provisional default model")
    return _("agency model fitted on %(n)s episodes on %(date)s") % {
        "n": model.n_episodes,
        "date": model.fitted_on,
    }


# The caller has not read the agency's fitted model (``model_or_none``, ``scores_feedback``).
NOT_READ = object()


def model_or_none(
    agency_id: int | None, instrument: str, stored: Mapping[str, object] | None | object = NOT_READ
) -> EtrModel | None:
    """The ETR model for an instrument, or None: such episodes show scores and cutoffs only.

    ``stored``: the agency's active fitted model's parameters when the caller has read them
    (None when it has none), else ``NOT_READ`` (then they are read here)."""
    try:
        if stored is NOT_READ:
            return model_for(agency_id, instrument)
        return model_from_stored(cast(Mapping[str, object] | None, stored), instrument)
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


@lru_cache(maxsize=128)
def signal_config(outcome: str, alliance: str | None, age_band: str | None) -> SignalConfig:
    """The signals' thresholds for these instruments and age band, made once per process from
    the instrument files (half the signals' own time after every rating). Nothing changes a
    config once made: it is frozen and shared by every caller."""
    return SignalConfig.for_instruments(outcome, alliance, age_band)


@lru_cache(maxsize=32)
def instrument_for(code: str, language: str = "en") -> Instrument:
    return get_instrument(code, language)


@dataclass(frozen=True)
class EpisodeFeedback:
    outcome: list[tuple[int, float]]
    alliance: list[AllianceScore]
    signals: EpisodeSignals
    model: EtrModel | None


# What the signals read of one administration: (session number, instrument, rater, total,
# items, total_only). A bulk import evaluates rows in this shape before it stores them.
Score = tuple[int, str, str, float, Mapping[str, float], bool]


def _score(administration: Administration) -> Score:
    return (
        administration.session.number,
        administration.instrument,
        administration.rater,
        administration.total,
        administration.items,
        administration.total_only,
    )


def client_scores(
    episode: Episode, administrations: Iterable[Administration]
) -> tuple[list[tuple[int, float]], list[AllianceScore]]:
    """The client's own outcome and alliance totals by session number (collaterals excluded)."""
    return _client_scores(
        episode.outcome_instrument, episode.alliance_instrument, map(_score, administrations)
    )


def _client_scores(
    outcome_instrument: str, alliance_instrument: str, scores: Iterable[Score]
) -> tuple[list[tuple[int, float]], list[AllianceScore]]:
    outcome: list[tuple[int, float]] = []
    alliance: list[AllianceScore] = []
    for number, instrument, rater, total, items, total_only in scores:
        if rater != "client":
            continue
        if instrument == outcome_instrument:
            outcome.append((number, total))
        elif instrument == alliance_instrument:
            alliance.append(AllianceScore(number, total, dict(items), total_only))
    outcome.sort()
    alliance.sort(key=lambda score: score.session_number)
    return outcome, alliance


def episode_feedback(
    episode: Episode, administrations: Iterable[Administration]
) -> EpisodeFeedback:
    return scores_feedback(
        episode.agency_id,
        episode.outcome_instrument,
        episode.alliance_instrument,
        episode.client.age_band,
        map(_score, administrations),
    )


def scores_feedback(
    agency_id: int | None,
    outcome_instrument: str,
    alliance_instrument: str,
    age_band: str,
    scores: Iterable[Score],
    stored_model: Mapping[str, object] | None | object = NOT_READ,
) -> EpisodeFeedback:
    """``episode_feedback`` from plain values, for episodes not stored yet (a bulk import) or
    read as values (the rating's follow-up, which also reads the agency's fitted model:
    ``stored_model``, see ``model_or_none``)."""
    scores = list(scores)
    outcome, alliance = _client_scores(outcome_instrument, alliance_instrument, scores)
    model = model_or_none(agency_id, outcome_instrument, stored_model)
    signals = evaluate_episode(
        outcome,
        alliance,
        model=model if model is not None else NoModel(),
        instrument=outcome_instrument,
        alliance_instrument=alliance_instrument,
        config=signal_config(outcome_instrument, alliance_instrument, age_band),
        safety=_safety_responses(scores),
    )
    return EpisodeFeedback(outcome=outcome, alliance=alliance, signals=signals, model=model)


def _safety_responses(scores: Iterable[Score]) -> list[SafetyResponse]:
    """Every form with a safety item (PHQ-9 item 9), whoever filled it in: the science core
    decides whether an answer raises the safety alert. A total on its own has no items."""
    return [
        SafetyResponse(number, instrument_for(instrument), dict(items))
        for number, instrument, _rater, _total, items, total_only in scores
        if not total_only and instrument_for(instrument).safety is not None
    ]


def safety_message(instrument_codes: Iterable[str], language: str) -> str:
    """The risk-conversation wording of the first of these instruments with a safety item, in
    ``language`` (the instrument file's own text); "" when none has one."""
    for code in instrument_codes:
        try:
            rule = instrument_for(code, language).safety
        except ValueError:
            continue
        if rule is not None:
            return rule.message
    return ""


def is_safety(code: str) -> bool:
    return code == SAFETY_CODE


def episode_summary(
    feedback: EpisodeFeedback, session_count: int, last_session_date: datetime.date | None
) -> dict[str, object]:
    """The denormalised summary an episode stores (the caseload's columns), by field name."""
    outcome, alliance, signals = feedback.outcome, feedback.alliance, feedback.signals
    last_outcome_session, last_outcome_total = outcome[-1] if outcome else (None, None)
    return {
        "session_count": session_count,
        "last_session_date": last_session_date,
        "intake_total": outcome[0][1] if outcome else None,
        "last_outcome_total": last_outcome_total,
        "last_outcome_session": last_outcome_session,
        "zone": signals.latest_colour if outcome else Zone.NONE,
        "last_alliance_total": alliance[-1].total if alliance else None,
        "alliance_flag": signals.latest_alliance_colour if alliance else Zone.NONE,
    }
