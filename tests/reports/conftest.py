"""Riverside with simulated history: four therapists in two teams, a few hundred episodes."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from alliance.accounts.models import Role
from alliance.science.simulate import simulate
from tests.reports.loader import load_frame
from tests.web.personas import Personas, make_user

EPISODES = 240


@dataclass
class History:
    personas: Personas
    frame: pd.DataFrame  # the simulated table, in the simulator's own ids
    episodes: dict  # simulator episode_id -> Episode


@pytest.fixture
def history(personas) -> History:
    p = personas
    p.riverside.allow_client_names = True  # the exports tests look for names where allowed
    p.riverside.save()
    tess = make_user(p.riverside, "tess", Role.THERAPIST, p.north)
    tom = make_user(p.riverside, "tom", Role.THERAPIST, p.south)
    frame = simulate(EPISODES, 4, seed=7)
    therapists = {"T0001": p.tara, "T0002": tess, "T0003": p.theo, "T0004": tom}
    team_of = {"T0001": p.north, "T0002": p.north, "T0003": p.south, "T0004": p.south}
    frame["team_id"] = frame["therapist_id"].map({k: str(v.pk) for k, v in team_of.items()})
    teams = {str(t.pk): t for t in (p.north, p.south)}
    episodes = load_frame(p.riverside, frame, therapists=therapists, teams=teams)
    # Hillside gets a little history of its own, which no Riverside report may include.
    other = simulate(20, 1, seed=3)
    other["team_id"] = None
    load_frame(p.hillside, other, therapists={"T0001": p.oscar}, teams={})
    return History(p, frame, episodes)
