"""Every POST with input goes through a Django form: a refused form says why and changes nothing."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from alliance.care import services
from alliance.care.forms import NewClientForm, RatingForm, error_text
from alliance.care.models import Administration, Client, Episode, Session
from alliance.feedback.forms import GroupForm, LinkForm
from alliance.feedback.models import FeedbackLink, Group
from alliance.reports.forms import ReportFilterForm
from alliance.reports.models import RefitJob


def logged_in(user, language: str = "en") -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    browser.force_login(user)
    return browser


@pytest.fixture
def tara_session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def text(response) -> str:
    return response.content.decode()


# -- the forms themselves ----------------------------------------------------------------------


def test_a_new_client_needs_a_code_and_without_band_or_year_is_an_adult():
    assert error_text(NewClientForm({})) == "Give the client a display code."
    no_band = NewClientForm({"display_code": "C-1"})
    assert no_band.is_valid() and no_band.cleaned_data["age_band"] == "adult"
    bad_year = NewClientForm({"display_code": "C-1", "birth_year": "19x0"})
    assert error_text(bad_year) == "The birth year must be a year such as 1990."
    assert NewClientForm({"display_code": "C-1", "birth_year": "1990"}).is_valid()
    assert NewClientForm({"display_code": "C-1", "age_band": "adult"}).is_valid()


def test_a_birth_year_in_the_future_or_before_1900_is_refused():
    next_year = str(timezone.localdate().year + 1)
    for year in (next_year, "1899", "-5"):
        form = NewClientForm({"display_code": "C-1", "birth_year": year})
        assert error_text(form) == "The birth year must be a year such as 1990.", year


def test_the_rating_form_takes_the_total_of_the_chosen_form_only():
    form = RatingForm(
        {"instrument": "srs", "ors-total": "20", "srs-total": " 31 "}, instruments=["ors", "srs"]
    )
    assert form.is_valid() and form.total() == "31"
    assert form.cleaned_data["entry_mode"] == "" and form.cleaned_data["rater"] == ""
    unknown = RatingForm({"instrument": "phq9"}, instruments=["ors", "srs"])
    assert error_text(unknown) == "Unknown instrument."


def test_a_link_by_email_or_sms_needs_an_address_and_showing_it_does_not():
    shown = LinkForm({"instrument": "ors"})
    assert shown.is_valid() and shown.cleaned_data["channel"] == "show"
    refused = LinkForm({"instrument": "ors", "channel": "sms", "address": "  "})
    assert error_text(refused) == "Give the client's mobile phone number."
    refused = LinkForm({"instrument": "ors", "channel": "email", "address": ""})
    assert error_text(refused) == "Give the client's e-mail address."
    assert error_text(LinkForm({"instrument": "ors", "channel": "fax"})) == (
        "Choose how to send the link."
    )


def test_a_group_takes_only_the_clients_offered_and_leaves_out_the_others_quietly(personas):
    offered = [personas.tara_client]
    mine, hidden = personas.tara_client.public_id, personas.oscar_client.public_id
    form = GroupForm({"name": "G", "members": [hidden, mine, mine]}, candidates=offered)
    assert form.is_valid() and form.chosen() == [personas.tara_client]
    assert error_text(GroupForm({"name": "  "}, candidates=offered)) == "Give the group a name."


def test_report_filters_that_do_not_fit_are_left_out_instead_of_refusing_the_page():
    form = ReportFilterForm(
        {
            "team": "x",
            "therapist": "7",
            "age_band": "ancient",
            "start": "2026-13-01",
            "end": "2026-03-31",
            "instrument": "nope",
            "by": "moon",
        }
    )
    report_filter = form.report_filter()
    assert (report_filter.team_id, report_filter.therapist_id) == (None, 7)
    assert (report_filter.age_band, report_filter.start) == ("", None)
    assert report_filter.end == datetime.date(2026, 3, 31)
    assert report_filter.instrument == "ors" and form.grouping() == "quarter"
    chosen = ReportFilterForm({"instrument": "cors", "age_band": "child", "by": "team_id"})
    assert chosen.report_filter().instrument == "cors" and chosen.grouping() == "team_id"


# -- through the pages: refused input changes nothing ----------------------------------------


def test_a_new_client_with_a_code_too_long_is_refused_and_what_was_typed_is_shown_again(
    personas,
):
    browser = logged_in(personas.tara)
    response = browser.post(
        reverse("new_client"),
        {"display_code": "X" * 41, "birth_year": "1990", "raters": ["parent"]},
    )
    page = text(response)
    assert response.status_code == 400
    assert "The display code is at most 40 characters long." in page
    assert 'value="1990"' in page and 'value="parent" id="new-rater-parent" checked' in page
    assert not Client.objects.filter(display_code__startswith="XXXX").exists()


def test_an_unknown_ending_is_refused_in_the_users_language_and_the_episode_stays_open(
    personas,
):
    url = reverse("close_episode", args=[personas.tara_client.public_id])
    response = logged_in(personas.tara).post(url, {"ending": "vanished"})
    assert response.status_code == 400
    assert "Choose how the episode ended: planned or unilateral." in text(response)
    spanish = logged_in(personas.tara, "es").post(url, {})
    assert "Elija cómo terminó el episodio: planificado o unilateral." in text(spanish)
    assert Episode.objects.get(client=personas.tara_client).end_date is None


def test_an_unknown_attendance_is_refused_and_the_session_keeps_its_own(personas, tara_session):
    url = reverse("set_attendance", args=[personas.tara_client.public_id, 1])
    response = logged_in(personas.tara).post(url, {"attendance": "late"})
    assert (
        response.status_code == 400 and text(response) == "Choose attended, cancelled or no-show."
    )
    assert Session.objects.get(pk=tara_session.pk).attendance == ""  # still only started


def test_an_unknown_rater_is_refused_and_the_raters_stay_as_they_were(personas):
    url = reverse("set_raters", args=[personas.tara_client.public_id])
    browser = logged_in(personas.tara)
    assert browser.post(url, {"raters": ["parent"]}).status_code == 302
    response = browser.post(url, {"raters": ["parent", "boss"]})
    assert response.status_code == 400 and text(response) == "Choose the raters from the list."
    assert Episode.objects.get(client=personas.tara_client).raters == ["parent"]
    assert browser.post(url, {}).status_code == 302  # no raters besides the client
    assert Episode.objects.get(client=personas.tara_client).raters == []


def test_a_paper_total_is_stored_with_its_entry_mode_rater_and_relationship(personas, tara_session):
    url = reverse("session", args=[personas.tara_client.public_id, 1])
    post = {
        "instrument": "ors",
        "idempotency_key": "paper-1",
        "ors-total": "24.5",
        "entry_mode": "paper",
        "rater": "parent",
        "relationship": "  grandmother ",
    }
    assert logged_in(personas.tara).post(url, post).status_code == 302
    stored = Administration.objects.get()
    assert (stored.total, stored.entry_mode, stored.rater) == (24.5, "paper", "parent")
    assert stored.rater_relationship == "grandmother"


def test_a_rating_with_an_unknown_entry_mode_is_refused_on_the_page_and_nothing_is_stored(
    personas, tara_session
):
    url = reverse("session", args=[personas.tara_client.public_id, 1])
    post = {"instrument": "ors", "idempotency_key": "k", "ors-total": "20", "entry_mode": "fax"}
    response = logged_in(personas.tara).post(url, post)
    assert response.status_code == 400
    assert "Choose paper or phone as the way the form was filled in." in text(response)
    # "link" and "import" are set by the system: nobody chooses them by hand.
    for system_mode in ("link", "import", "in_session"):
        post = {**post, "entry_mode": system_mode, "idempotency_key": system_mode}
        assert logged_in(personas.tara).post(url, post).status_code == 400
    assert not Administration.objects.exists()
    unknown = logged_in(personas.tara).post(url, {"instrument": "phq9", "phq9-total": "3"})
    assert unknown.status_code == 400 and text(unknown) == "Unknown instrument."


def test_a_link_to_send_without_an_address_is_refused_before_any_link_exists(
    personas, tara_session
):
    url = reverse("feedback:create_link", kwargs={"session_id": tara_session.public_id})
    browser = logged_in(personas.tara)
    response = browser.post(url, {"instrument": "ors", "channel": "email"})
    # Back to the session page, with the message in the form.
    assert response.status_code == 302
    page = browser.get(response["Location"]).content.decode()
    assert "Give the client&#x27;s e-mail address." in page and 'data-testid="link-error"' in page
    assert not FeedbackLink.objects.exists()


def test_a_kiosk_pass_without_a_form_is_refused_with_a_clear_message(personas, tara_session):
    url = reverse("feedback:create_kiosk", kwargs={"session_id": tara_session.public_id})
    response = logged_in(personas.tara, "es").post(url, {"rater": "client"})
    assert response.status_code == 400 and text(response) == "Elija un formulario."
    assert not FeedbackLink.objects.exists()


def test_an_empty_kiosk_code_is_a_wrong_pair_and_locks_nothing(personas):
    url = reverse("feedback:kiosk", kwargs={"agency_id": personas.riverside.public_id})
    tablet = Browser()
    response = tablet.post(url, {"code": "", "pin": ""})
    assert response.status_code == 400
    assert "That code and PIN do not match an open form." in text(response)
    assert "feedback_kiosk_failures" not in tablet.session


def test_a_group_with_a_name_too_long_is_refused_and_no_group_is_made(personas):
    response = logged_in(personas.tara, "es").post(
        reverse("feedback:new_group"),
        {"name": "G" * 121, "members": [personas.tara_client.public_id]},
    )
    assert response.status_code == 400
    assert "El nombre tiene como máximo 120 caracteres." in text(response)
    assert not Group.objects.exists()


def test_an_unknown_refit_scale_is_refused_and_no_refit_is_queued(personas):
    browser = logged_in(personas.alice)
    response = browser.post(reverse("reports:etr"), {"instrument": "phq9"})
    assert response.status_code == 400 and text(response) == "Choose a scale from the list."
    assert not RefitJob.objects.exists()
    back = browser.post(reverse("reports:deactivate"), {"instrument": "phq9"})
    assert back.status_code == 400
    # The page itself forgives a scale it does not know: it shows the ORS.
    assert browser.get(reverse("reports:etr") + "?instrument=phq9").status_code == 200
