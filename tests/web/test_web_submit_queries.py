"""A rating submit runs a fixed, small number of SQL statements (issue 16: the hot path).

On PostgreSQL a new rating takes one statement to find the session with the visibility rule,
one to lock the episode, check everything and write the row, its key and the attendance, and
two for the audit event (lock the lane's head, append the events and move the head); the
follow-up task's row is written by the statement of the row. SQLite takes the careful path,
one question at a time, and enqueues the task on its own.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alliance.care import services, summary
from alliance.care.models import Administration
from tests.security.conftest import logged_in
from tests.security.test_reliability import ORS

RATING_TABLES = ("care_", "audit_")


@pytest.fixture
def database_queue(settings):
    settings.ALLIANCE_TASKS = "database"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def submit_statements(personas, key: str) -> list[str]:
    session = services.start_session(personas.tara, personas.tara_client)
    browser = logged_in(personas.tara)
    url = reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    browser.get(url)  # the session and its idle stamp are written before the submit
    with CaptureQueriesContext(connection) as captured:
        response = browser.post(url, {**ORS, "idempotency_key": key})
    assert response.status_code == 302
    assert Administration.objects.filter(session=session).count() == 1
    return [query["sql"] for query in captured.captured_queries]


def test_a_new_rating_runs_six_statements_on_its_tables_and_leaves_no_task(
    personas, database_queue
):
    statements = submit_statements(personas, "statements-1")
    rating = [sql for sql in statements if any(t in sql for t in RATING_TABLES)]
    assert not [sql for sql in statements if "dbtaskresult" in sql]
    facts = [sql for sql in rating if sql.startswith(summary.facts_sql().split("%s")[0])]
    assert len(facts) == 1  # the summary's one read
    if connection.vendor == "postgresql":
        # The session's lookup; the rating, its key and attendance; the summary's read and its
        # update; the audit chain's head and the appended event.
        assert len(rating) == 6, "\n".join(rating)
    else:
        assert len(rating) == 16, "\n".join(rating)  # the careful path
