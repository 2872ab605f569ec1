"""``/episodes``: list, read and close episodes; their signals and ETR trajectory."""

from __future__ import annotations

from ninja import Router, Status
from ninja.pagination import paginate

from alliance.accounts.network import client_ip
from alliance.care import services
from alliance.care.feedback import EpisodeFeedback, episode_feedback
from alliance.care.models import Administration
from alliance.science.etr import EtrError

from .. import lookups, schemas
from ..auth import actor, require_write
from ..errors import ERRORS
from ..serializers import Mapped, episode_out, mapped, signals_out

router = Router(tags=["episodes"])


@router.get("/episodes", response={200: list[schemas.EpisodeOut], **ERRORS})
@paginate(Mapped)
def list_episodes(request, client: str | None = None):
    episodes = lookups.episodes(request)
    if client:
        episodes = episodes.filter(client__public_id=client)
    return mapped(episodes.order_by("start_date", "pk"), episode_out)


@router.get("/episodes/{episode_id}", response={200: schemas.EpisodeOut, **ERRORS})
def get_episode(request, episode_id: str):
    return episode_out(lookups.episode(request, episode_id))


@router.post("/episodes/{episode_id}/close", response={200: schemas.EpisodeOut, **ERRORS})
def close_episode(request, episode_id: str, payload: schemas.EpisodeClose):
    require_write(request)
    episode = lookups.episode(request, episode_id)
    services.close_episode(
        actor(request), episode, payload.ending, on=payload.on, ip=client_ip(request)
    )
    return episode_out(lookups.episode(request, episode_id))


@router.post("/episodes/{episode_id}/reopen", response={200: schemas.EpisodeOut, **ERRORS})
def reopen_episode(request, episode_id: str):
    """Reopen the client's latest episode within the agency's window (audited); 422 past it."""
    require_write(request)
    episode = lookups.episode(request, episode_id)
    services.reopen_episode(actor(request), episode, ip=client_ip(request))
    return episode_out(lookups.episode(request, episode_id))


@router.post("/clients/{client_id}/episodes", response={201: schemas.EpisodeOut, **ERRORS})
def start_episode(request, client_id: str):
    """A returning client's new episode under the same code (422 while one is open)."""
    require_write(request)
    client = lookups.client(request, client_id)
    episode = services.start_episode(actor(request), client, ip=client_ip(request))
    return Status(201, episode_out(lookups.episode(request, episode.public_id)))


@router.get("/episodes/{episode_id}/signals", response={200: schemas.SignalsOut, **ERRORS})
def episode_signals(request, episode_id: str):
    """Session colours, alliance flags, current alerts and the ETR trajectory of an episode."""
    episode = lookups.episode(request, episode_id)
    feedback = episode_feedback(episode, list(Administration.objects.of_episode(episode)))
    return signals_out(episode, feedback, _etr(feedback))


def _etr(feedback: EpisodeFeedback) -> dict | None:
    """The expected trajectory from the intake (at least ten sessions) and the chance of success."""
    model = feedback.model
    if not feedback.outcome or model is None:
        return None
    first, intake = feedback.outcome[0]
    last = max(feedback.outcome[-1][0] - first + 1, 1)
    trajectory = model.predict(intake, list(range(1, max(last, 10) + 1)))
    try:
        probability = model.success_probability(
            intake, [(n - first + 1, total) for n, total in feedback.outcome]
        )
    except (EtrError, ValueError):
        probability = None
    return {
        "model": model.name,
        "provenance": model.provenance,
        "provisional": model.provisional,
        "intake": intake,
        "sessions": [int(s) for s in trajectory.sessions],
        "target": [float(v) for v in trajectory.target],
        "negative": [float(v) for v in trajectory.negative],
        "success_probability": None if probability is None else float(probability),
    }
