"""`GET /healthz`: database, migrations and the task queue's lag, for a monitor (alliance.ops)."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client as Browser
from django.test import override_settings
from django.utils import timezone

from alliance.audit.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
DATABASE_QUEUE = {
    "ALLIANCE_TASKS": "database",
    "TASKS": {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}},
}


def test_healthz_answers_200_with_every_check_when_all_is_well(db):
    response = Browser().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert response.json() == {
        "status": "ok",
        "database": True,
        "migrations": True,
        "unapplied_migrations": 0,
        "queue_lag_seconds": None,  # ALLIANCE_TASKS=immediate: no queue
        "queue_lag_limit_seconds": 300,
    }


def test_healthz_needs_no_sign_in_sets_no_cookie_and_writes_no_audit_event(personas):
    before = AuditEvent.objects.count()
    signed_in = Browser()
    signed_in.force_login(personas.alice)
    for browser in (Browser(), signed_in):
        response = browser.get("/healthz")
        assert response.status_code == 200
        assert not response.cookies
    assert AuditEvent.objects.count() == before


def test_healthz_names_no_record_of_any_agency(personas):
    body = Browser().get("/healthz").content.decode()
    for text in (personas.riverside.name, personas.tara.username, personas.tara_client.public_id):
        assert text not in body


def test_healthz_answers_503_when_a_migration_is_not_applied(db):
    leaf = max(MigrationLoader(connection).graph.leaf_nodes("audit"))
    MigrationRecorder(connection).record_unapplied(*leaf)
    response = Browser().get("/healthz")
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "unhealthy"
    assert report["database"] is True
    assert report["migrations"] is False and report["unapplied_migrations"] == 1


def queue(task_age: float, run_after_age: float | None = None) -> None:
    """A waiting task enqueued ``task_age`` seconds ago (due ``run_after_age`` ago if given)."""
    from django_tasks_db.models import DBTaskResult

    from alliance.reports.tasks import refit_etr

    result = refit_etr.enqueue(job_id=0)
    now = timezone.now()
    changes = {"enqueued_at": now - datetime.timedelta(seconds=task_age)}
    if run_after_age is not None:
        changes["run_after"] = now - datetime.timedelta(seconds=run_after_age)
    DBTaskResult.objects.filter(pk=result.id).update(**changes)


@override_settings(**DATABASE_QUEUE)
def test_healthz_reports_no_lag_for_an_empty_queue(db):
    response = Browser().get("/healthz")
    assert response.status_code == 200
    assert response.json()["queue_lag_seconds"] == 0


@override_settings(**DATABASE_QUEUE)
def test_healthz_reports_the_wait_of_the_oldest_due_task(db):
    queue(task_age=20)
    queue(task_age=45)
    response = Browser().get("/healthz")
    assert response.status_code == 200
    assert 45 <= response.json()["queue_lag_seconds"] < 50


@override_settings(**DATABASE_QUEUE)
def test_healthz_answers_503_when_a_task_waits_longer_than_the_limit(db):
    queue(task_age=301)
    response = Browser().get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["queue_lag_seconds"] >= 301
    with override_settings(HEALTHZ_MAX_QUEUE_LAG=600):
        assert Browser().get("/healthz").status_code == 200


@override_settings(**DATABASE_QUEUE)
def test_healthz_counts_a_retry_from_the_time_it_became_due(db):
    from django_tasks_db.models import DBTaskResult

    queue(task_age=3600, run_after_age=-600)  # a retry due in ten minutes: not waiting
    assert Browser().get("/healthz").json()["queue_lag_seconds"] == 0
    DBTaskResult.objects.update(run_after=timezone.now() - datetime.timedelta(seconds=30))
    response = Browser().get("/healthz")
    assert response.status_code == 200
    assert 30 <= response.json()["queue_lag_seconds"] < 35


@override_settings(**DATABASE_QUEUE)
def test_healthz_ignores_finished_tasks(db):
    from django_tasks_db.models import DBTaskResult

    queue(task_age=3600)
    DBTaskResult.objects.update(status="SUCCESSFUL")
    assert Browser().get("/healthz").json()["queue_lag_seconds"] == 0


@override_settings(SECURE_SSL_REDIRECT=True)
def test_healthz_answers_a_monitor_on_plain_http_where_pages_redirect_to_https(db):
    assert Browser().get("/login/").status_code == 301
    assert Browser().get("/healthz").status_code == 200


def test_healthz_answers_only_get_and_head(db):
    assert Browser().head("/healthz").status_code == 200
    assert Browser().post("/healthz").status_code == 405


def test_healthz_answers_503_when_the_database_is_unreachable():
    # A server whose PostgreSQL is down: nothing listens on port 9 of the loopback interface.
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code, json.dumps(r.json()))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="alliance.settings",
        ALLIANCE_INSECURE_DEV_KEY="1",
        DATABASE_URL="postgres://alliance@127.0.0.1:9/alliance",
        ALLOWED_HOSTS="testserver",
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    assert json.loads(body)["database"] is False
    assert json.loads(body)["status"] == "unhealthy"


@pytest.mark.django_db
def test_the_health_url_is_healthz_without_a_slash():
    from django.urls import reverse

    assert reverse("healthz") == "/healthz"
