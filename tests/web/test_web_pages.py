"""Pages: login, caseload, client page, session flow (with and without JavaScript)."""

from __future__ import annotations

import re

import pytest
from django.test import Client as Browser
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Administration, Episode
from tests.web.personas import PASSWORD

ORS_POST = {
    "instrument": "ors",
    "ors-individually": "5.2",
    "ors-interpersonally": "4.8",
    "ors-socially": "6.1",
    "ors-overall": "3.9",
    "confirmed": "1",  # every line was moved (JavaScript) or the client ticked the box
}  # total 20.0
SRS_LOW_POST = {
    "instrument": "srs",
    "srs-relationship": "8.0",
    "srs-goals_topics": "9.0",
    "srs-approach": "8.5",
    "srs-overall": "9.4",
    "confirmed": "1",
}  # total 34.9


def logged_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def session_url(client, number: int = 1) -> str:
    return reverse("session", kwargs={"public_id": client.public_id, "number": number})


def idempotency_key(html: str, instrument: str) -> str:
    form = html.split(f'name="instrument" value="{instrument}"', 1)[1]
    return re.search(r'name="idempotency_key" value="([0-9a-f]+)"', form).group(1)


@pytest.fixture
def tara_session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def test_the_login_form_logs_in_with_username_and_password(personas):
    browser = Browser()
    page = browser.get("/login/").content.decode()
    assert 'for="id_username">Username<' in page and 'for="id_password">Password<' in page
    response = browser.post("/login/", {"username": "tara", "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("caseload")


def test_a_wrong_password_gets_one_message_without_saying_which_part_was_wrong(personas):
    wrong_password = Browser().post("/login/", {"username": "tara", "password": "nope"})
    unknown_user = Browser().post("/login/", {"username": "nobody", "password": "nope"})
    assert wrong_password.status_code == unknown_user.status_code == 200
    message = "Those details did not match. Please try again."
    assert message in wrong_password.content.decode() and message in unknown_user.content.decode()
    assert "password" not in message.lower() and "username" not in message.lower()


def test_logout_is_a_post_and_ends_the_session(personas):
    browser = logged_in(personas.tara)
    assert "Log out" in browser.get("/").content.decode()
    browser.post("/logout/")
    assert browser.get("/").status_code == 302


def test_the_password_can_be_changed(personas):
    browser = logged_in(personas.tara)
    response = browser.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-phrase-42",
            "new_password2": "a-new-long-phrase-42",
        },
    )
    assert response.status_code == 302
    personas.tara.refresh_from_db()
    assert personas.tara.check_password("a-new-long-phrase-42")
    assert personas.tara.password.startswith("argon2")


def test_forms_are_refused_without_a_csrf_token(personas, tara_session):
    browser = Browser(enforce_csrf_checks=True)
    browser.force_login(personas.tara)
    response = browser.post(
        session_url(personas.tara_client), {**ORS_POST, "idempotency_key": "x1"}
    )
    assert response.status_code == 403
    assert not Administration.objects.exists()


def test_the_caseload_lists_red_before_orange_grey_and_green_with_text_labels(personas):
    zones = {"R-TARA-1": "green", "R-THEO-1": "red", "R-THEO-2": "orange"}
    for code, zone in zones.items():
        Episode.objects.filter(client__display_code=code).update(zone=zone)
    page = logged_in(personas.alice).get("/").content.decode()
    assert "<h1>Caseload</h1>" in page
    positions = [page.index(f">{code}</a>") for code in ("R-THEO-1", "R-THEO-2", "R-TARA-1")]
    assert positions == sorted(positions)
    for label in ("Red", "Orange", "Green"):
        assert f">{label}</span>" in page
    assert "H-OSCAR-1" not in page


def test_the_caseload_filters_by_zone_and_search(personas):
    Episode.objects.filter(client__display_code="R-THEO-1").update(zone="red")
    browser = logged_in(personas.alice)
    red = browser.get("/", {"zone": "red"}).content.decode()
    assert "R-THEO-1" in red and "R-TARA-1" not in red
    found = browser.get("/", {"q": "tara"}).content.decode()
    assert "R-TARA-1" in found and "R-THEO-1" not in found


def test_the_caseload_sorts_by_a_column_and_reverses_on_a_second_click(personas):
    for code, count in {"R-TARA-1": 3, "R-THEO-1": 1, "R-THEO-2": 2}.items():
        Episode.objects.filter(client__display_code=code).update(session_count=count)
    browser = logged_in(personas.alice)
    ascending = browser.get("/", {"sort": "sessions"}).content.decode()
    order = [ascending.index(f">{code}</a>") for code in ("R-THEO-1", "R-THEO-2", "R-TARA-1")]
    assert order == sorted(order)
    assert 'href="?sort=-sessions"' in ascending
    descending = browser.get("/", {"sort": "-sessions"}).content.decode()
    order = [descending.index(f">{code}</a>") for code in ("R-TARA-1", "R-THEO-2", "R-THEO-1")]
    assert order == sorted(order)


def test_start_session_from_the_caseload_opens_todays_session_page(personas):
    browser = logged_in(personas.tara)
    response = browser.post(reverse("start_session", args=[personas.tara_client.public_id]))
    assert response.status_code == 302 and response.url == session_url(personas.tara_client, 1)
    page = browser.get(response.url).content.decode()
    assert "<legend>Outcome Rating Scale</legend>" in page
    for label in ("Individually", "Interpersonally", "Socially", "Overall"):
        assert re.search(rf'<label for="ors-[\w-]+">{label}</label>', page)
    assert page.count('type="range"') == 8 and 'min="0" max="10" step="0.1"' in page
    assert 'data-testid="ors-total"' in page and "Hand over for the ORS" in page


def test_saving_the_ors_without_javascript_redirects_back_and_shows_zone_and_total(
    personas, tara_session
):
    browser = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    key = idempotency_key(browser.get(url).content.decode(), "ors")
    response = browser.post(url, {**ORS_POST, "idempotency_key": key})
    assert response.status_code == 302
    page = browser.get(url).content.decode()
    assert re.search(r'data-testid="ors-zone"[^>]*>Grey \(first session\)<', page)
    assert re.search(r'data-testid="ors-total"[^>]*>20\.0<', page)
    assert 'class="ors-point' in page and 'data-score="20' in page
    assert AuditEvent.objects.get(action="administration.recorded").ip_address == "127.0.0.1"


def test_a_double_click_posts_the_same_key_and_stores_once(personas, tara_session):
    browser = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    key = idempotency_key(browser.get(url).content.decode(), "ors")
    browser.post(url, {**ORS_POST, "idempotency_key": key})
    browser.post(url, {**ORS_POST, "ors-overall": "9.9", "idempotency_key": key})
    assert Administration.objects.get().total == pytest.approx(20.0)


def test_saving_with_javascript_returns_the_html_fragment(personas, tara_session):
    browser = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    response = browser.post(
        url, {**ORS_POST, "idempotency_key": "k-js"}, headers={"X-Requested-With": "fetch"}
    )
    fragment = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in fragment and 'data-testid="ors-zone"' in fragment
    assert 'data-testid="progress-graph"' in fragment and 'data-testid="prompts"' in fragment


def test_an_item_out_of_range_is_shown_to_the_user_and_nothing_is_stored(personas, tara_session):
    browser = logged_in(personas.tara)
    response = browser.post(
        session_url(personas.tara_client),
        {**ORS_POST, "ors-socially": "11", "idempotency_key": "bad"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'role="alert"' in page and "Socially" in page
    assert not Administration.objects.exists()


def test_a_total_only_paper_entry_is_accepted(personas, tara_session):
    browser = logged_in(personas.tara)
    browser.post(
        session_url(personas.tara_client),
        {**ORS_POST, "ors-total": "22", "entry_mode": "paper", "idempotency_key": "paper"},
    )
    stored = Administration.objects.get()
    assert (stored.total, stored.total_only, stored.entry_mode) == (22.0, True, "paper")


def test_an_srs_below_36_shows_the_alliance_prompt(personas, tara_session):
    browser = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    browser.post(url, {**SRS_LOW_POST, "idempotency_key": "srs"})
    page = browser.get(url).content.decode()
    prompt = re.search(
        r'<div data-testid="alliance-prompt" role="alert"[^>]*>(.*?)</div>', page, re.S
    )
    assert prompt and "34.9 is below 36" in prompt.group(1)
    assert 'class="srs-point' in page


def test_undo_removes_the_saved_score_from_the_session_page(personas, tara_session):
    browser = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    browser.post(url, {**ORS_POST, "idempotency_key": "k"})
    administration = Administration.objects.get()
    undo = reverse(
        "undo_administration", args=[personas.tara_client.public_id, 1, administration.public_id]
    )
    assert undo in browser.get(url).content.decode()
    assert browser.post(undo).status_code == 302
    assert not Administration.objects.exists()
    assert AuditEvent.objects.filter(action="administration.undone").count() == 1


def test_the_client_page_shows_the_graph_model_sessions_and_closes_the_episode(
    personas, tara_session
):
    browser = logged_in(personas.tara)
    browser.post(session_url(personas.tara_client), {**ORS_POST, "idempotency_key": "k"})
    url = reverse("client", args=[personas.tara_client.public_id])
    page = browser.get(url).content.decode()
    assert "<h1>R-TARA-1</h1>" in page
    assert 'data-testid="progress-graph"' in page and 'role="img"' in page and "<title" in page
    assert page.count("provisional") == 1  # the provenance is shown once, and says it once
    assert "Expected treatment response: provisional default model" in page
    assert "Start today&#x27;s session" in page or "Start today's session" in page
    close_url = reverse("close_episode", args=[personas.tara_client.public_id])
    assert f'href="{close_url}"' in page
    confirmation = browser.get(close_url).content.decode()
    assert (
        'for="ending-planned">Planned / mutual<' in confirmation
        and 'for="ending-unilateral">Unilateral (drop-out)<' in confirmation
    )
    response = browser.post(close_url, {"ending": "planned"})
    assert response.status_code == 302
    closed = browser.get(url).content.decode()
    assert "Episode closed" in closed and "Close episode" not in closed
    assert "R-TARA-1" not in browser.get("/").content.decode()


def test_a_collateral_rating_is_stored_beside_the_clients_own_and_can_be_undone(
    personas, tara_session
):
    browser = logged_in(personas.tara)
    url = session_url(personas.tara_client)
    browser.post(url, {**ORS_POST, "idempotency_key": "own"})
    browser.post(
        url,
        {
            **ORS_POST,
            "ors-total": "31",
            "rater": "parent",
            "relationship": "mother",
            "idempotency_key": "mum",
        },
    )
    parent = Administration.objects.get(rater="parent")
    assert (parent.total, parent.rater_relationship) == (31.0, "mother")
    assert Episode.objects.get(pk=tara_session.episode_id).last_outcome_total == pytest.approx(20.0)
    page = browser.get(url).content.decode()
    assert "Saved for Parent: 31.0" in page
    undo = reverse(
        "undo_administration", args=[personas.tara_client.public_id, 1, parent.public_id]
    )
    assert undo in page


def test_marking_a_session_as_a_no_show_takes_it_out_of_the_session_count(personas, tara_session):
    browser = logged_in(personas.tara)
    services.set_attendance(personas.tara, tara_session, "attended")
    assert Episode.objects.get(pk=tara_session.episode_id).session_count == 1
    response = browser.post(
        reverse("set_attendance", args=[personas.tara_client.public_id, 1]),
        {"attendance": "no_show"},
    )
    assert response.status_code == 302
    assert Episode.objects.get(pk=tara_session.episode_id).session_count == 0
    assert AuditEvent.objects.filter(action="session.attendance").order_by("pk").last().detail == {
        "before": "attended",
        "after": "no_show",
    }


def test_hand_over_is_a_post_that_locks_the_page_without_javascript(personas, tara_session):
    browser = logged_in(personas.tara)
    page = browser.get(session_url(personas.tara_client)).content.decode()
    assert 'name="scales" value="outcome"' in page and "Hand over for the SRS" in page
    # The old GET flag does nothing any more: a hand-over is a state on the server
    assert (
        "site-header"
        in browser.get(session_url(personas.tara_client), {"handover": "1"}).content.decode()
    )
    response = browser.post(
        reverse("start_handover", args=[personas.tara_client.public_id, 1]), {"scales": "outcome"}
    )
    assert response.url == reverse("handover")
    assert browser.get(session_url(personas.tara_client)).url == reverse("handover")
