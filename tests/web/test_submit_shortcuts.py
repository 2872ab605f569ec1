"""What the rating submit learns on the way instead of asking again (issue 16).

The rating form's fields are made once per pair of forms and never changed; the save tells the
page which raters have filled in the form (on PostgreSQL, from its one statement), so moving on
to the next rater asks the database nothing more; a refused save writes nothing.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.care import services, summary
from alliance.care.forms import RatingForm, error_text
from alliance.care.models import Administration, IdempotencyKey, Session
from tests.security.conftest import logged_in
from tests.security.test_reliability import ORS


@pytest.fixture
def tara_session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def test_rating_forms_of_other_measures_do_not_change_each_others_choices():
    ors = RatingForm({"instrument": "ors", "ors-total": "20"}, instruments=["ors", "srs"])
    phq = RatingForm({"instrument": "ors"}, instruments=["phq9", "gad7"])
    assert ors.is_valid() and ors.total() == "20"
    assert error_text(phq) == "Unknown instrument."
    assert "ors-total" not in phq.fields and "phq9-total" not in ors.fields
    again = RatingForm({"instrument": "srs", "srs-total": "31"}, instruments=["ors", "srs"])
    assert again.is_valid() and again.total() == "31"
    # The same field objects serve every form of one pair (never copied, never changed).
    assert again.fields["instrument"] is ors.fields["instrument"]
    assert again.fields["rater"] is phq.fields["rater"]


def rate_ors(personas, session, key: str, **extra):
    """An ORS by the therapist through the service, as the page records it."""
    items = {"individually": 6, "interpersonally": 4, "socially": 7, "overall": 5}
    return services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key=key, items=items, **extra
    )


def _couple(personas):
    client = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="CPL-Q",
        therapist=personas.tara,
        raters=["partner"],
    )
    session = services.start_session(personas.tara, client)
    url = reverse("session", kwargs={"public_id": client.public_id, "number": 1})
    return session, url


def test_the_page_moves_on_to_the_next_rater_without_asking_who_has_rated(personas, settings):
    # The task queue in the database, as in production.
    settings.ALLIANCE_TASKS = "database"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    session, url = _couple(personas)
    browser = logged_in(personas.tara)
    with CaptureQueriesContext(connection) as captured:
        response = browser.post(url, {**ORS, "idempotency_key": "next-1"})
    assert response.status_code == 302 and response["Location"] == url + "?rater=partner"
    reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().startswith("SELECT")
        and "care_administration" in q["sql"]
        # (the summary's own read, which takes every score to compute the zone)
        and not q["sql"].startswith(summary.facts_sql().split("%s")[0])
    ]
    if connection.vendor == "postgresql":  # the save's own statement answered
        assert reads == []
    assert Administration.objects.filter(session=session).count() == 1


def test_a_rater_who_filled_in_the_form_already_is_not_offered_it_again(personas):
    session, url = _couple(personas)
    rate_ors(personas, session, "partner-first", rater="partner")
    response = logged_in(personas.tara).post(url, {**ORS, "idempotency_key": "next-2"})
    assert response.status_code == 302 and response["Location"] == url  # stays with the client
    assert set(Administration.objects.values_list("rater", flat=True)) == {"client", "partner"}


def test_a_rating_of_a_closed_episode_writes_nothing(personas, tara_session):
    services.close_episode(personas.tara, tara_session.episode, "planned")
    events = AuditEvent.objects.count()
    try:
        rate_ors(personas, tara_session, "closed-1")
    except services.ServiceError as error:
        assert "closed" in str(error)
    else:
        raise AssertionError("a closed episode took a rating")
    assert not Administration.objects.exists() and not IdempotencyKey.objects.exists()
    assert Session.objects.get(pk=tara_session.pk).attendance == ""
    assert AuditEvent.objects.count() == events


def test_a_fragment_submit_answers_the_page_and_a_refused_one_says_why(personas, tara_session):
    browser = logged_in(personas.tara)
    url = reverse("session", kwargs={"public_id": personas.tara_client.public_id, "number": 1})
    fetch = {"headers": {"X-Requested-With": "fetch"}}
    saved = browser.post(url, {**ORS, "idempotency_key": "frag-1"}, **fetch)
    assert saved.status_code == 200 and b"<html" not in saved.content[:200].lower()
    again = browser.post(url, {**ORS, "idempotency_key": "frag-2"}, **fetch)
    assert again.status_code == 400 and "already filled in" in again.content.decode()
    assert Administration.objects.filter(session=tara_session).count() == 1
