"""Named personas shared by the web and browser tests.

Riverside: admin alice, supervisor sam (team North), therapists tara (North) and theo (South).
Hillside: admin olga, therapist oscar. Everyone's password is PASSWORD.
Clients: R-TARA-1 (tara), R-THEO-1 (theo), R-THEO-2 (theo, shared with tara), H-OSCAR-1 (oscar).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache

from django.contrib.auth.hashers import make_password

from alliance.accounts.models import Agency, Membership, Role, Team, TeamMembership, User
from alliance.care.models import Client, ClientShare
from alliance.care.services import create_client

PASSWORD = "correct-horse-battery-9"
# Episodes start two months back, so sessions can be dated between then and today.
START = datetime.date.today() - datetime.timedelta(days=60)


@lru_cache(maxsize=1)
def password_hash() -> str:
    # Argon2 is deliberately slow: hash once per test run, reuse for every persona.
    return make_password(PASSWORD)


@dataclass
class Personas:
    riverside: Agency
    hillside: Agency
    north: Team
    south: Team
    alice: User
    sam: User
    tara: User
    theo: User
    olga: User
    oscar: User
    tara_client: Client
    theo_client: Client
    shared_client: Client
    oscar_client: Client


def make_user(agency: Agency, username: str, role: str, *teams: Team) -> User:
    user = User.objects.create(
        username=username, password=password_hash(), is_staff=(role == Role.ADMIN)
    )
    Membership.objects.create(agency=agency, user=user, role=role)
    for team in teams:
        TeamMembership.objects.create(agency=agency, team=team, user=user)
    return user


def create_personas() -> Personas:
    riverside = Agency.objects.create(name="Riverside")
    hillside = Agency.objects.create(name="Hillside")
    north = Team.objects.create(agency=riverside, name="North")
    south = Team.objects.create(agency=riverside, name="South")
    east = Team.objects.create(agency=hillside, name="East")
    alice = make_user(riverside, "alice", Role.ADMIN)
    sam = make_user(riverside, "sam", Role.SUPERVISOR, north)
    tara = make_user(riverside, "tara", Role.THERAPIST, north)
    theo = make_user(riverside, "theo", Role.THERAPIST, south)
    olga = make_user(hillside, "olga", Role.ADMIN)
    oscar = make_user(hillside, "oscar", Role.THERAPIST, east)
    tara_client = create_client(
        alice, riverside, display_code="R-TARA-1", start_date=START, therapist=tara, team=north
    )
    theo_client = create_client(
        alice, riverside, display_code="R-THEO-1", start_date=START, therapist=theo, team=south
    )
    shared_client = create_client(
        alice, riverside, display_code="R-THEO-2", start_date=START, therapist=theo, team=south
    )
    ClientShare.objects.create(agency=riverside, client=shared_client, user=tara)
    oscar_client = create_client(
        olga, hillside, display_code="H-OSCAR-1", start_date=START, therapist=oscar, team=east
    )
    return Personas(
        riverside,
        hillside,
        north,
        south,
        alice,
        sam,
        tara,
        theo,
        olga,
        oscar,
        tara_client,
        theo_client,
        shared_client,
        oscar_client,
    )
