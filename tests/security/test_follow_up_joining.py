"""One waiting follow-up serves the ratings of its episode (issue 16): on PostgreSQL a rating
whose episode's follow-up row is still READY joins that row instead of queueing another, and
the one run announces every administration of it, once each, in order. A row the worker has
claimed (or is claiming) is never joined: the rating then queues a row of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django_tasks_db.models import DBTaskResult

from alliance.api.models import WebhookDelivery
from alliance.api.services import create_webhook_endpoint
from alliance.care import services
from alliance.care.models import Administration, Episode
from tests.security.test_reliability import PG_URL
from tests.web.personas import START

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_queue(settings):
    settings.ALLIANCE_TASKS = "database"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def announced():
    """The administrations ``administration_recorded`` announces, in order."""
    seen: list[int] = []

    def receiver(sender, administration, **kwargs):
        seen.append(administration.pk)

    services.administration_recorded.connect(receiver, dispatch_uid="test-joining")
    yield seen
    services.administration_recorded.disconnect(dispatch_uid="test-joining")


def on_postgresql(request) -> bool:
    """The joining is the PostgreSQL quick path's: on a SQLite run the test runs itself there
    (a database of its own per xdist worker: two of these may run at once)."""
    if connection.vendor == "postgresql":
        return True
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": f"{PG_URL}_{worker}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "1 passed" in result.stdout, (
        result.stdout[-3000:] + result.stderr[-2000:]
    )
    return False


@pytest.fixture
def pg_personas(request, database_queue):
    """The personas, with the database queue, on PostgreSQL; None on a SQLite run, which has
    run the test on PostgreSQL instead (``on_postgresql``)."""
    if not on_postgresql(request):
        return None
    from tests.web.personas import create_personas

    return create_personas()


def rate(personas, session, instrument: str, key: str, total: float) -> Administration:
    return services.record_administration(
        personas.tara, session, instrument=instrument, idempotency_key=key, total=total
    ).administration


def summary(episode_id: int) -> dict[str, object]:
    episode = Episode.objects.get(pk=episode_id)
    return {
        name: getattr(episode, name) for name in ("intake_total", "zone", "last_alliance_total")
    }


def test_it_joins_the_srs_to_the_waiting_follow_up_of_the_ors_and_announces_both(
    pg_personas, announced
):
    if pg_personas is None:
        return
    personas = pg_personas
    session = services.start_session(personas.tara, personas.tara_client)
    create_webhook_endpoint(
        personas.alice,
        personas.riverside,
        url="https://hooks.example.org/in",
        events=["administration.recorded"],
    )
    ors = rate(personas, session, "ors", "k-ors", 20)
    srs = rate(personas, session, "srs", "k-srs", 30)
    [row] = DBTaskResult.objects.filter(task_path__endswith=".follow_up_rating")
    assert row.args_kwargs == {"args": [session.episode_id, ors.pk, srs.pk], "kwargs": {}}
    assert services.follow_up_rating.call(*row.args_kwargs["args"]) is True
    assert announced == [ors.pk, srs.pk]
    deliveries = WebhookDelivery.objects.filter(event="administration.recorded")
    assert sorted(d.payload["data"]["administration"] for d in deliveries) == sorted(
        [ors.public_id, srs.public_id]
    )
    assert summary(session.episode_id) == {
        "intake_total": 20.0,
        "zone": Episode.objects.get(pk=session.episode_id).zone,
        "last_alliance_total": 30.0,
    }


def test_it_joins_every_rating_of_the_episode_while_the_row_waits_and_the_worker_runs_it_once(
    pg_personas, announced
):
    if pg_personas is None:
        return
    personas = pg_personas
    first = services.start_session(personas.tara, personas.tara_client, on=START)
    ids = [rate(personas, first, "ors", "a", 20).pk, rate(personas, first, "srs", "b", 30).pk]
    second = services.start_session(personas.tara, personas.tara_client)
    ids.append(rate(personas, second, "ors", "c", 25).pk)
    assert DBTaskResult.objects.count() == 1
    call_command("db_worker", batch=True, verbosity=0)
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    assert announced == ids
    stored = summary(first.episode_id)
    services.refresh_episode_summary(Episode.objects.get(pk=first.episode_id))
    assert summary(first.episode_id) == stored  # the one run left what a recomputation gives
    assert stored["intake_total"] == 20.0


def test_it_queues_a_row_of_its_own_when_the_follow_up_already_started(pg_personas, announced):
    if pg_personas is None:
        return
    personas = pg_personas
    session = services.start_session(personas.tara, personas.tara_client)
    ors = rate(personas, session, "ors", "k-ors", 20)
    DBTaskResult.objects.update(status="RUNNING")  # claimed by the worker
    srs = rate(personas, session, "srs", "k-srs", 30)
    rows = DBTaskResult.objects.order_by("enqueued_at")
    assert [row.args_kwargs["args"] for row in rows] == [
        [session.episode_id, ors.pk],
        [session.episode_id, srs.pk],
    ]


def test_it_queues_a_row_of_its_own_when_the_worker_claims_the_waiting_one_meanwhile(pg_personas):
    """The worker holds the row's lock (claiming it) when the rating's statement reaches it: the
    statement waits, finds the row RUNNING once the worker commits, and inserts a row."""
    if pg_personas is None:
        return
    personas = pg_personas
    session = services.start_session(personas.tara, personas.tara_client)
    ors = rate(personas, session, "ors", "k-ors", 20)
    row_id = DBTaskResult.objects.get().pk
    locked, errors = threading.Event(), []
    hold = 0.6

    def claim():
        try:
            with transaction.atomic():
                row = DBTaskResult.objects.select_for_update(skip_locked=True).get(pk=row_id)
                locked.set()
                time.sleep(hold)
                row.claim("test-worker")
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
            locked.set()
        finally:
            connection.close()

    worker = threading.Thread(target=claim)
    worker.start()
    assert locked.wait(10)
    started = time.monotonic()
    srs = rate(personas, session, "srs", "k-srs", 30)
    waited = time.monotonic() - started
    worker.join(10)
    assert errors == []
    assert waited > hold / 2  # the rating's statement did wait for the worker's lock
    rows = DBTaskResult.objects.order_by("enqueued_at")
    assert [(row.status, row.args_kwargs["args"]) for row in rows] == [
        ("RUNNING", [session.episode_id, ors.pk]),
        ("READY", [session.episode_id, srs.pk]),
    ]


def test_it_never_joins_a_row_of_another_episode(pg_personas):
    if pg_personas is None:
        return
    personas = pg_personas
    mine = services.start_session(personas.tara, personas.tara_client)
    rate(personas, mine, "ors", "a", 20)
    other = services.start_session(personas.theo, personas.theo_client)
    services.record_administration(
        personas.theo, other, instrument="ors", idempotency_key="b", total=20
    )
    firsts = sorted(row.args_kwargs["args"][0] for row in DBTaskResult.objects.all())
    assert firsts == sorted([mine.episode_id, other.episode_id])


def test_it_runs_rows_of_one_rating_and_of_none_as_before(personas, tara_session, announced):
    # The immediate backend runs the follow-up inside the rating, with (episode, administration).
    ors = rate(personas, tara_session, "ors", "k-ors", 20)
    srs = rate(personas, tara_session, "srs", "k-srs", 30)
    assert announced == [ors.pk, srs.pk]
    announced.clear()
    episode_id = tara_session.episode_id
    assert services.follow_up_rating.call(episode_id) is True  # rows queued before webhooks
    assert services.follow_up_rating.call(episode_id, None) is True
    assert announced == []
    assert services.follow_up_rating.call(episode_id, srs.pk, ors.pk) is True
    assert announced == [srs.pk, ors.pk]
    assert Episode.objects.get(pk=episode_id).last_alliance_total == 30.0
