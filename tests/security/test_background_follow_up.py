"""A rating's follow-up (summary, alerts, webhook) is a task: with the database queue its row
commits with the rating, so it cannot be lost, and the worker brings the summary up to date."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from alliance.care import services
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
def test_a_rating_queues_its_follow_up_and_the_worker_updates_the_summary(
    personas, tara_session, database_queue
):
    browser = logged_in(personas.tara)
    url = reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    assert browser.post(url, ORS_FORM).status_code == 302
    # Stored and audited at once; the caseload summary waits for the worker.
    assert Administration.objects.get(session=tara_session).total == pytest.approx(20.0)
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total is None
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "alliance.care.services.follow_up_rating"
    run_worker()
    assert Episode.objects.get(pk=tara_session.episode_id).intake_total == pytest.approx(20.0)
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_a_retried_rating_queues_nothing_more(personas, tara_session, database_queue):
    for _ in range(2):
        services.record_administration(
            personas.tara, tara_session, instrument="ors", idempotency_key="same", total=20
        )
    assert DBTaskResult.objects.count() == 1


def test_a_rejected_rating_leaves_no_task(personas, tara_session, database_queue):
    with pytest.raises(services.ResponseError):
        services.record_administration(
            personas.tara, tara_session, instrument="ors", idempotency_key="bad", total=41
        )
    assert not DBTaskResult.objects.exists()
    assert not Administration.objects.exists()


@worker_test
def test_the_worker_raises_the_alerts_of_a_poor_alliance(personas, tara_session, database_queue):
    services.record_administration(
        personas.tara, tara_session, instrument="srs", idempotency_key="srs-1", total=20
    )
    assert not Alert.objects.exists()
    run_worker()
    assert Alert.objects.filter(episode_id=tara_session.episode_id).exists()


@worker_test
def test_a_follow_up_for_an_erased_client_does_nothing(personas, tara_session, database_queue):
    services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="k", total=20
    )
    [queued] = DBTaskResult.objects.all()
    services.erase_client(personas.alice, personas.tara_client)
    # Erasure removes the queued row; a follow-up already running when it happened does nothing.
    assert not DBTaskResult.objects.exists()
    assert services.follow_up_rating.call(*queued.args_kwargs["args"]) is False
    run_worker()


@worker_test
def test_a_follow_up_queued_under_the_old_module_path_still_runs(
    personas, tara_session, database_queue
):
    # Rows queued before the tasks moved into services.py name the old module.
    services.record_administration(
        personas.tara, tara_session, instrument="ors", idempotency_key="k", total=20
    )
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
