"""Reliability: a double click or a retry is stored once; concurrent saves stay consistent."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.audit.services import verify_agency
from alliance.care import services
from alliance.care.models import Administration, Episode
from tests.security.conftest import logged_in

ORS = {
    "instrument": "ors",
    "ors-individually": "5.2",
    "ors-interpersonally": "4.8",
    "ors-socially": "6.1",
    "ors-overall": "3.9",
    "confirmed": "1",
}  # total 20.0


def form_key(html: str, instrument: str) -> str:
    form = html.split(f'name="instrument" value="{instrument}"', 1)[1]
    return re.search(r'name="idempotency_key" value="([0-9a-zA-Z_-]+)"', form).group(1)


def test_a_double_click_over_http_stores_one_administration(personas, tara_session):
    browser = logged_in(personas.tara)
    url = reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    key = form_key(browser.get(url).content.decode(), "ors")
    first = browser.post(url, {**ORS, "idempotency_key": key})
    second = browser.post(url, {**ORS, "idempotency_key": key})  # the retry / second click
    assert first.status_code == second.status_code == 302
    stored = Administration.objects.get(session=tara_session, instrument="ors")
    assert stored.total == pytest.approx(20.0)
    assert AuditEvent.objects.filter(action="administration.recorded").count() == 1
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total == pytest.approx(20.0)


def test_a_retry_with_the_same_key_but_changed_values_does_not_overwrite(personas, tara_session):
    first = services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="same", total=20
    )
    again = services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="same", total=30
    )
    assert first.created and not again.created
    assert again.administration.pk == first.administration.pk
    assert Administration.objects.get(pk=first.administration.pk).total == 20


def _run_in_threads(jobs) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(job):
        try:
            barrier.wait()
            job()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


PG_URL = os.environ.get(
    "ALLIANCE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/alliance_threads"
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_for_one_session_stay_consistent(request):
    """Threads need a server database: on a SQLite run the test runs itself on PostgreSQL."""
    if connection.vendor != "postgresql":
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "DATABASE_URL": PG_URL},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0 and "1 passed" in result.stdout, (
            "the threaded test needs PostgreSQL on 127.0.0.1:5432 (scripts/ensure-postgres):\n"
            + result.stdout[-3000:]
            + result.stderr[-2000:]
        )
        return
    from tests.web.personas import create_personas

    personas = create_personas()
    session = services.start_session(personas.tara, personas.tara_client)
    # Eight simultaneous posts: the ORS twice with one key (a double click racing itself),
    # the SRS three times with three keys (three edits), and three retries of one more key.
    jobs = []
    for key in ("ors-a", "ors-a"):
        jobs.append(
            lambda key=key: services.record_administration(
                personas.tara, session, instrument="ors", idempotency_key=key, total=18
            )
        )
    for n, total in enumerate((30, 33, 36)):
        jobs.append(
            lambda n=n, total=total: services.record_administration(
                personas.tara,
                session,
                instrument="srs",
                idempotency_key=f"srs-{n}",
                total=total,
                replace=True,  # three deliberate edits
            )
        )
    for _ in range(3):
        jobs.append(
            lambda: services.record_administration(
                personas.tara,
                session,
                instrument="ors",
                rater="parent",
                idempotency_key="parent-1",
                total=25,
            )
        )
    errors = _run_in_threads(jobs)
    assert errors == []
    rows = Administration.objects.filter(session=session)
    assert sorted((a.instrument, a.rater) for a in rows) == [
        ("ors", "client"),
        ("ors", "parent"),
        ("srs", "client"),
    ]
    srs = rows.get(instrument="srs")
    episode = Episode.objects.get(pk=session.episode_id)
    # The summary is the one of the last stored state, whichever edit came last.
    assert episode.last_alliance_total == srs.total and srs.total in (30, 33, 36)
    assert episode.intake_total == 18 and episode.session_count == 1
    assert AuditEvent.objects.filter(action="administration.recorded").count() == 3
    assert AuditEvent.objects.filter(action="administration.edited").count() == 2
    assert verify_agency(personas.riverside.pk)[1] == []  # the chain never forked


@pytest.mark.django_db(transaction=True)
def test_concurrent_new_ratings_of_one_form_store_one_and_refuse_or_replay_the_others(request):
    """The quick path of a new rating (PostgreSQL) checks before the episode lock is granted; a
    save that wins meanwhile must still leave one row, an AlreadyRatedError for a different key
    and the stored answer for the same key. Runs itself on PostgreSQL on a SQLite run."""
    if connection.vendor != "postgresql":
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid],
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "DATABASE_URL": PG_URL},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0 and "1 passed" in result.stdout, (
            result.stdout[-3000:] + result.stderr[-2000:]
        )
        return
    from tests.web.personas import create_personas

    personas = create_personas()
    session = services.start_session(personas.tara, personas.tara_client)
    answers: list[object] = []

    def save(key: str, total: int):
        def job():
            try:
                answers.append(
                    services.record_administration(
                        personas.tara, session, instrument="ors", idempotency_key=key, total=total
                    )
                )
            except services.AlreadyRatedError as refused:
                answers.append(refused)

        return job

    # Three keys for one form (three devices) and each key twice (double clicks).
    jobs = [save(key, total) for key, total in (("a", 10), ("b", 20), ("c", 30)) for _ in (1, 2)]
    assert _run_in_threads(jobs) == []
    stored = Administration.objects.get(session=session, instrument="ors")
    results = [a for a in answers if isinstance(a, services.RecordResult)]
    refused = [a for a in answers if isinstance(a, services.AlreadyRatedError)]
    assert len(results) + len(refused) == 6
    assert [r.created for r in results].count(True) == 1
    assert {r.administration.pk for r in results} == {stored.pk}
    assert all(r.administration.pk == stored.pk for r in refused)
    assert AuditEvent.objects.filter(action="administration.recorded").count() == 1
    assert AuditEvent.objects.filter(action="session.attendance").count() == 1
    assert verify_agency(personas.riverside.pk)[1] == []
