"""A rating's follow-up (summary, alerts, webhook) runs in the request that stores it, so the
caseload is right with no worker; when it fails, the rating is kept and the follow-up waits in
the task queue for the worker, which also runs rows queued by earlier versions."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from alliance.audit.models import AuditEvent
from alliance.care import services, summary
from alliance.care.models import Administration, Alert, Episode
from alliance.cli import main as cli_main
from tests.security.conftest import logged_in
from tests.security.test_reliability import ORS

ORS_FORM = {**ORS, "idempotency_key": "key-1"}  # total 20.0


@pytest.fixture
def database_queue(settings):
    settings.ALLIANCE_TASKS = "database"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def run_worker() -> None:
    # The worker closes connections between tasks: its tests commit for real (transaction=True).
    call_command("db_worker", batch=True, verbosity=0)


worker_test = pytest.mark.django_db(transaction=True)


@worker_test
def test_a_rating_brings_the_summary_up_to_date_in_its_own_request_with_no_worker(
    personas, tara_session, database_queue
):
    browser = logged_in(personas.tara)
    url = reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    assert browser.post(url, ORS_FORM).status_code == 302
    assert Administration.objects.get(session=tara_session).total == pytest.approx(20.0)
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total == pytest.approx(20.0)
    assert not DBTaskResult.objects.exists()  # nothing left for a worker to do


def test_a_retried_rating_queues_nothing(personas, tara_session, database_queue):
    for _ in range(2):
        services.record_administration(
            personas.tara, tara_session, instrument="ors", idempotency_key="same", total=20
        )
    assert Administration.objects.count() == 1
    assert not DBTaskResult.objects.exists()


def test_a_rejected_rating_leaves_no_task(personas, tara_session, database_queue):
    with pytest.raises(services.ResponseError):
        services.record_administration(
            personas.tara, tara_session, instrument="ors", idempotency_key="bad", total=41
        )
    assert not DBTaskResult.objects.exists()
    assert not Administration.objects.exists()


def test_a_poor_alliance_raises_its_alerts_in_the_request(personas, tara_session, database_queue):
    services.record_administration(
        personas.tara, tara_session, instrument="srs", idempotency_key="srs-1", total=20
    )
    assert Alert.objects.filter(episode_id=tara_session.episode_id).exists()


def _failing(*args, **kwargs):
    raise RuntimeError("the follow-up broke")


@worker_test
def test_a_failing_follow_up_keeps_the_rating_and_the_worker_retries_it(
    personas, tara_session, database_queue, monkeypatch, caplog
):
    monkeypatch.setattr(summary, "scores_feedback", _failing)
    result = services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="k", total=20
    )
    assert Administration.objects.get(pk=result.administration.pk).total == pytest.approx(20.0)
    assert AuditEvent.objects.filter(action="administration.recorded").count() == 1
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total is None
    assert "follow-up of a rating failed (RuntimeError)" in caplog.text
    assert "broke" not in caplog.text  # the kind of failure, never its message
    queued = DBTaskResult.objects.get()
    assert queued.args_kwargs["args"] == [tara_session.episode_id, result.administration.pk]
    monkeypatch.undo()
    run_worker()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total == pytest.approx(20.0)


def test_a_follow_up_failing_after_the_summary_leaves_nothing_half_done(
    personas, tara_session, database_queue
):
    def refuse(sender, administration, **kwargs):
        raise RuntimeError("a receiver broke")

    services.administration_recorded.connect(refuse, dispatch_uid="test-refuse")
    try:
        services.record_administration(
            personas.tara, tara_session, instrument="srs", idempotency_key="k", total=20
        )
    finally:
        services.administration_recorded.disconnect(dispatch_uid="test-refuse")
    # The summary and the alerts written before the receiver failed went back with it.
    episode = Episode.objects.get(pk=tara_session.episode_id)
    assert episode.last_alliance_total is None
    assert not Alert.objects.filter(episode=episode).exists()
    assert Administration.objects.filter(session=tara_session).count() == 1
    assert DBTaskResult.objects.get().args_kwargs["args"][0] == episode.pk


@worker_test
def test_a_follow_up_for_an_erased_client_does_nothing(personas, tara_session, database_queue):
    result = services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="k", total=20
    )
    services.follow_up_rating.enqueue(tara_session.episode_id, result.administration.pk)
    services.erase_client(personas.alice, personas.tara_client)
    # Erasure removes the queued row; a follow-up already running when it happened does nothing.
    assert not DBTaskResult.objects.exists()
    assert (
        services.follow_up_rating.call(tara_session.episode_id, result.administration.pk) is False
    )
    run_worker()


@worker_test
def test_a_follow_up_queued_under_the_old_module_path_still_runs(
    personas, tara_session, database_queue
):
    # Rows queued before the tasks moved into services.py name the old module; rows queued
    # before the follow-up ran in the request are still run.
    result = services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="k", total=20
    )
    Episode.objects.filter(pk=tara_session.episode_id).update(intake_total=None)
    services.follow_up_rating.enqueue(tara_session.episode_id, result.administration.pk)
    DBTaskResult.objects.update(task_path="alliance.care.tasks.follow_up_rating")
    run_worker()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total == pytest.approx(20.0)


@pytest.mark.parametrize(
    ("old_path", "new_path"),
    [
        ("alliance.care.tasks.follow_up_rating", "alliance.care.services.follow_up_rating"),
        (
            "alliance.reports.tasks.refresh_open_episodes",
            "alliance.care.services.refresh_open_episodes",
        ),
        ("alliance.reports.tasks.refit_etr", "alliance.reports.services.refit_etr"),
        (
            "alliance.feedback.tasks.send_feedback_link",
            "alliance.feedback.services.send_feedback_link",
        ),
    ],
)
def test_a_moved_task_is_still_found_under_its_old_module_path(old_path, new_path):
    task = import_string(new_path)
    assert task.module_path == new_path  # what new rows store
    assert import_string(old_path) is task  # what rows queued before the move name


def test_the_worker_command_refuses_when_tasks_run_in_the_request(capsys, monkeypatch):
    monkeypatch.delenv("ALLIANCE_TASKS", raising=False)
    assert cli_main(["worker", "--batch"]) == 2
    assert "ALLIANCE_TASKS is 'immediate'" in capsys.readouterr().err


def test_serving_with_a_database_queue_reminds_to_run_the_worker(monkeypatch, capsys):
    from alliance.cli import web

    monkeypatch.setattr(web, "exec_gunicorn", lambda command: 0)
    monkeypatch.setenv("ALLIANCE_TASKS", "database")
    assert web.serve("127.0.0.1:8999", workers=1) == 0
    assert "run `alliance worker`" in capsys.readouterr().out
    monkeypatch.setenv("ALLIANCE_TASKS", "immediate")
    web.serve("127.0.0.1:8999", workers=1)
    assert "alliance worker" not in capsys.readouterr().out
