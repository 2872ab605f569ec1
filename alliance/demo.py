"""Demo data: an agency with two teams, a supervisor, four therapists and ~60 simulated clients."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from alliance.accounts.models import Agency, Role, Team, User
from alliance.accounts.services import create_member
from alliance.api.imports import import_frame
from alliance.care.feedback import model_for
from alliance.care.models import Client
from alliance.science.etr import EtrError
from alliance.science.simulate import simulate

AGENCY_NAME = "Demo Agency"
PASSWORD = "alliance-demo"
THERAPISTS = ("therapist1", "therapist2", "therapist3", "therapist4")
USERNAMES = ("admin", "supervisor", *THERAPISTS)
SEED = 2024
CLIENTS = 60
OPEN_SHARE = 0.6


@dataclass(frozen=True)
class DemoResult:
    created: bool
    clients: int
    usernames: tuple[str, ...] = USERNAMES
    password: str = PASSWORD


def demo_exists() -> bool:
    return Agency.objects.filter(name=AGENCY_NAME).exists()


@transaction.atomic
def remove_demo() -> None:
    agency = Agency.objects.filter(name=AGENCY_NAME).first()
    if agency is not None:
        Client.objects.filter(agency=agency).delete()
        agency.delete()
    User.objects.filter(username__in=USERNAMES, membership__isnull=True).delete()


def prepare_demo(today: datetime.date | None = None) -> DemoResult:
    """Create the demo data once; a second call leaves existing data alone."""
    if demo_exists():
        return DemoResult(
            created=False, clients=Client.objects.filter(agency__name=AGENCY_NAME).count()
        )
    return _create_demo(today or timezone.localdate())


@transaction.atomic
def _create_demo(today: datetime.date) -> DemoResult:
    agency = Agency.objects.create(name=AGENCY_NAME)
    north = Team.objects.create(agency=agency, name="North")
    south = Team.objects.create(agency=agency, name="South")
    hashed = make_password(PASSWORD)  # one Argon2 hash for all demo logins
    admin = create_member(agency, "admin", PASSWORD, Role.ADMIN, password_hash=hashed)
    create_member(
        agency, "supervisor", PASSWORD, Role.SUPERVISOR, [north, south], password_hash=hashed
    )
    therapists = [
        create_member(
            agency,
            name,
            PASSWORD,
            Role.THERAPIST,
            [north if n < 2 else south],
            password_hash=hashed,
        )
        for n, name in enumerate(THERAPISTS)
    ]
    frame = demo_frame(today)
    therapist_ids = sorted(frame["therapist_id"].unique())
    by_id = {tid: therapists[index % len(therapists)] for index, tid in enumerate(therapist_ids)}
    teams = {str(tid): (north if by_id[tid] in therapists[:2] else south) for tid in therapist_ids}
    frame = frame.assign(team_id=frame["therapist_id"].astype(str))
    report = import_frame(
        admin,
        agency,
        frame,
        therapists=by_id,
        teams=teams,
        code_prefix="D-",
        alert_history=True,  # the supervisor's pages show alerts as if rated session by session
    )
    return DemoResult(created=True, clients=report.clients)


def demo_frame(today: datetime.date, seed: int = SEED) -> pd.DataFrame:
    """Simulated histories: closed episodes end in the past, open ones run up to the last weeks."""
    frame = simulate(CLIENTS * 2, len(THERAPISTS), seed=seed)
    frame = _with_model(frame)
    episode_ids = list(dict.fromkeys(frame["episode_id"]))[:CLIENTS]
    frame = frame[frame["episode_id"].isin(episode_ids)]
    rng = np.random.default_rng(seed)
    open_ids = set(rng.choice(episode_ids, size=int(len(episode_ids) * OPEN_SHARE), replace=False))
    parts = []
    for episode_id, rows in frame.groupby("episode_id", sort=True):
        if episode_id in open_ids:
            rows = _cut_open(rows, rng, today)
        else:
            rows = _shift(rows, today - datetime.timedelta(days=int(rng.integers(30, 300))))
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def _with_model(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep episodes whose outcome instrument has an ETR model (the shipped default covers the ORS)."""
    usable = set()
    for code in frame["instrument"].unique():
        try:
            model_for(None, str(code))
        except EtrError:  # instruments without a model are left out of the demo
            continue
        usable.add(code)
    outcome = frame[frame["instrument"].isin(["ors", "cors"])]
    outcome_codes = outcome.groupby("episode_id")["instrument"].unique()
    keep = [eid for eid, codes in outcome_codes.items() if set(codes) <= usable]
    return frame[frame["episode_id"].isin(keep)]


def _cut_open(rows: pd.DataFrame, rng: np.random.Generator, today: datetime.date) -> pd.DataFrame:
    """An open episode: keep its first sessions, the last one within the past three weeks."""
    sessions = int(rows["session_number"].max())
    keep = int(rng.integers(1, sessions + 1))
    # pandas-stubs leave the NA scalar out of what assign accepts; pandas broadcasts it.
    rows = rows[rows["session_number"] <= keep].assign(ending=pd.NA)  # type: ignore[arg-type]
    return _shift(rows, today - datetime.timedelta(days=int(rng.integers(0, 21))))


def _shift(rows: pd.DataFrame, last_day: datetime.date) -> pd.DataFrame:
    dates = pd.to_datetime(rows["session_date"])
    offset = pd.Timestamp(last_day) - dates.max()
    return rows.assign(session_date=dates + offset)
