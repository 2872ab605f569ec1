"""The caseload runs a constant number of SQL queries whatever the number of clients."""

from __future__ import annotations

import datetime

from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext

from alliance.care import services
from tests.web.personas import START


def add_clients(personas, start: int, stop: int) -> None:
    """Clients of tara with one session and an ORS each (so every caseload column is filled)."""
    for index in range(start, stop):
        client = services.create_client(
            personas.alice,
            personas.riverside,
            display_code=f"LOAD-{index:03d}",
            therapist=personas.tara,
            team=personas.north,
            start_date=START,
        )
        day = START + datetime.timedelta(days=index % 20)
        session = services.start_session(personas.tara, client, on=day)
        services.record_administration(
            personas.tara,
            session,
            instrument="ors",
            idempotency_key=f"load-{index}",
            total=str(10 + index % 25),
        )


def caseload_queries(user) -> tuple[int, str]:
    browser = Browser()
    browser.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        page = browser.get("/").content.decode()
    return len(captured), page


def test_the_caseload_query_count_is_the_same_for_5_and_50_clients(personas):
    add_clients(personas, 0, 5)
    few, page = caseload_queries(personas.tara)
    assert page.count(">LOAD-") == 5
    add_clients(personas, 5, 50)
    many, page = caseload_queries(personas.tara)
    assert page.count(">LOAD-") == 50
    assert few == many
    # The Django session, the user with their membership (one query), and the caseload query.
    assert many == 3
