"""Builds the progress graph of an episode from its scores and the ETR model."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from .feedback import EpisodeFeedback, instrument_for, model_description
from .graph import GraphData, GraphSeries, render_progress_svg
from .models import Administration, Episode, rater_label

# Draw the expected trajectory at least this far so a new client's graph shows where to head.
MIN_SESSIONS_DRAWN = 10


def model_label(feedback: EpisodeFeedback) -> str:
    if feedback.model is None:
        return _("No expected treatment response for this scale: scores and cutoffs only")
    return _("Expected treatment response: %(model)s") % {
        "model": model_description(feedback.model)
    }


def _rater_series(episode: Episode, administrations: Iterable[Administration]) -> list[GraphSeries]:
    by_rater: dict[str, list[tuple[int, float]]] = {}
    for administration in administrations:
        if administration.instrument == episode.outcome_instrument:
            by_rater.setdefault(administration.rater, []).append(
                (administration.session.number, administration.total)
            )
    ordered = sorted(by_rater, key=lambda rater: (rater != "client", rater))
    return [
        GraphSeries(
            label=rater_label(rater),
            points=sorted(by_rater[rater]),
        )
        for rater in ordered
    ]


def _expected_lines(
    feedback: EpisodeFeedback, last_session: int
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    if not feedback.outcome or feedback.model is None:
        return [], []
    sessions = list(range(1, max(last_session, MIN_SESSIONS_DRAWN) + 1))
    trajectory = feedback.model.predict(feedback.outcome[0][1], sessions)
    target = [
        (int(s), float(v)) for s, v in zip(trajectory.sessions, trajectory.target, strict=True)
    ]
    negative = [
        (int(s), float(v)) for s, v in zip(trajectory.sessions, trajectory.negative, strict=True)
    ]
    return target, negative


def graph_data(
    episode: Episode, administrations: list[Administration], feedback: EpisodeFeedback
) -> GraphData:
    outcome = instrument_for(episode.outcome_instrument)
    alliance = instrument_for(episode.alliance_instrument)
    last_session = max((a.session.number for a in administrations), default=1)
    target, negative = _expected_lines(feedback, last_session)
    return GraphData(
        outcome_series=_rater_series(episode, administrations),
        outcome_name=outcome.name,
        outcome_max=float(outcome.total_max),
        outcome_cutoff=outcome.clinical_cutoff(episode.client.age_band),
        target=target,
        negative=negative,
        colours=dict(feedback.signals.colours),
        alliance_points=[(score.session_number, score.total) for score in feedback.alliance],
        alliance_name=alliance.name,
        alliance_max=float(alliance.total_max),
        alliance_cutoff=alliance.alliance_cutoff,
        model_label=model_label(feedback),
        # model_label already names a provisional model: the graph must not add it a second time.
        provisional=False,
        title=_("Progress of %(code)s") % {"code": episode.client.display_code},
    )


def progress_svg(
    episode: Episode, administrations: list[Administration], feedback: EpisodeFeedback
) -> str:
    return render_progress_svg(graph_data(episode, administrations, feedback))
