"""No rating overwritten, none invented, no phantom session (issue 17, section 3)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client as Browser
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Administration, Episode, Session
from alliance.care.progress import progress_svg
from alliance.reports.fhir import resources_for_administration

ORS_POST = {
    "instrument": "ors",
    "ors-individually": "5.2",
    "ors-interpersonally": "4.8",
    "ors-socially": "6.1",
    "ors-overall": "3.9",
    "confirmed": "1",
}  # total 20.0


def logged_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def key_of(html: str, instrument: str) -> str:
    form = html.split(f'name="instrument" value="{instrument}"', 1)[1]
    return re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form).group(1)


def test_starting_and_leaving_the_session_page_leaves_no_session_behind(personas):
    client = personas.tara_client
    browser = logged_in(personas.tara)
    started = browser.post(reverse("start_session", args=[client.public_id]))
    assert started.status_code == 302
    for _visit in range(2):
        assert browser.get(started["Location"]).status_code == 200
    episode = Episode.objects.get(client=client)
    assert (episode.session_count, episode.last_session_date) == (0, None)
    page = browser.get(reverse("client", args=[client.public_id]))
    assert page.context["session_rows"] == []
    caseload = browser.get(reverse("caseload"))
    row = next(r for r in caseload.context["rows"] if r["client"] == client)
    assert row["days"] is None
    # Starting again reuses the empty session: no second one, no gap in the numbers.
    again = browser.post(reverse("start_session", args=[client.public_id]))
    assert again["Location"] == started["Location"] and Session.objects.count() == 1


def test_a_get_of_the_session_page_writes_nothing(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    url = reverse("session", args=[personas.tara_client.public_id, session.number])
    before = (Session.objects.count(), Administration.objects.count())
    stored = Session.objects.values().get()
    logged_in(personas.tara).get(url)
    assert (Session.objects.count(), Administration.objects.count()) == before
    assert Session.objects.values().get() == stored
    page = logged_in(personas.tara).get(url).content.decode()
    assert '<option value="" selected disabled>Not set yet</option>' in page
    assert Episode.objects.get(pk=session.episode_id).session_count == 0


def test_setting_the_attendance_makes_the_session_count(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    url = reverse("set_attendance", args=[personas.tara_client.public_id, session.number])
    logged_in(personas.tara).post(url, {"attendance": "attended"})
    assert Episode.objects.get(pk=session.episode_id).session_count == 1


def test_saving_a_form_again_on_the_page_is_refused_until_replace_is_ticked(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    url = reverse("session", args=[personas.tara_client.public_id, session.number])
    browser = logged_in(personas.tara)
    page = browser.get(url).content.decode()
    assert 'name="replace"' not in page  # nothing to replace yet
    browser.post(url, {**ORS_POST, "idempotency_key": key_of(page, "ors")})
    page = browser.get(url).content.decode()
    assert 'name="replace"' in page and "Replace the saved rating (20.0)" in page
    lower = {**ORS_POST, "ors-overall": "1.9", "idempotency_key": key_of(page, "ors")}
    refused = browser.post(url, lower)
    assert refused.status_code == 400
    assert "This form was already filled in for this session (total 20)" in refused.content.decode()
    assert Administration.objects.get().total == 20.0
    page = refused.content.decode()
    replaced = browser.post(url, {**lower, "idempotency_key": key_of(page, "ors"), "replace": "1"})
    assert replaced.status_code == 302
    assert Administration.objects.get().total == 18.0
    edit = AuditEvent.objects.get(action="administration.edited")
    assert (edit.detail["before"]["total"], edit.detail["after"]["total"]) == (20.0, 18.0)
    assert edit.actor == personas.tara


def test_the_page_offers_only_paper_or_phone_as_entry_modes(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    url = reverse("session", args=[personas.tara_client.public_id, session.number])
    page = logged_in(personas.tara).get(url).content.decode()
    select = page.split('id="ors-entry-mode"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([a-z_]*)"', select) == ["", "paper", "phone"]


@pytest.fixture
def paper_total(personas):
    """A total of 22 typed in from paper, items not given."""
    session = services.start_session(personas.tara, personas.tara_client)
    url = reverse("session", args=[personas.tara_client.public_id, session.number])
    browser = logged_in(personas.tara)
    page = browser.get(url).content.decode()
    post = {"instrument": "ors", "idempotency_key": key_of(page, "ors"), "ors-total": "22"}
    assert browser.post(url, post).status_code == 302
    return Administration.objects.get()


def test_a_paper_total_keeps_its_items_empty_on_the_page_and_the_graph(personas, paper_total):
    assert (paper_total.items, paper_total.total_only) == ({}, True)
    assert paper_total.entry_mode == "paper"  # a total on its own came from paper
    url = reverse("session", args=[personas.tara_client.public_id, 1])
    page = logged_in(personas.tara).get(url).content.decode()
    ors = page.split('name="instrument" value="ors"', 1)[1].split("</form>", 1)[0]
    assert "5.5" not in ors  # no invented quarter on any line
    episode = paper_total.episode
    administrations = list(Administration.objects.of_episode(episode))
    graph = progress_svg(
        episode, administrations, services.episode_feedback(episode, administrations)
    )
    tooltips = re.findall(r"<title>([^<]*)</title>", graph)
    assert any("Session 1: 22" in tip for tip in tooltips)
    assert not any("5.5" in tip for tip in tooltips)


def test_a_paper_total_exports_with_empty_items_in_both_csv_files_and_fhir(personas, paper_total):
    browser = logged_in(personas.alice)
    for research in (False, True):
        response = browser.post(
            "/reports/exports/administrations.csv", {"research": "1"} if research else {}
        )
        text = b"".join(response.streaming_content).decode()
        (row,) = list(csv.DictReader(io.StringIO(text)))
        assert float(row["total"]) == 22.0
        items = [value for name, value in row.items() if name.startswith("item_")]
        assert items and all(value == "" for value in items)
    stored = Administration.objects.select_related("session", "episode__client").get()
    response, observation = resources_for_administration(stored)
    assert [item["linkId"] for item in response["item"]] == ["total"]
    assert observation["valueQuantity"]["value"] == 22.0
