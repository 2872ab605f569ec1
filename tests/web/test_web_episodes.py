"""Episodes end and begin again: close with confirmation, reopen within the agency's window,
a new episode for a returning client, closed clients on the caseload, several episodes per
client in the exports and the PDF."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test import Client as Browser
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Client, Episode
from tests.web.personas import START


def logged_in(user, language: str = "en") -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE=language)
    browser.force_login(user)
    return browser


def closed_client(personas, *, ended: datetime.date | None = None) -> Client:
    """tara's client after one session, closed as planned (on ``ended``, default today)."""
    client = personas.tara_client
    session = services.start_session(personas.tara, client, on=START)
    services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key="first", total="20"
    )
    services.close_episode(personas.tara, client.current_episode, "planned", on=ended)
    return client


# -- closing asks first -------------------------------------------------------------------------


def test_opening_the_close_page_asks_for_the_ending_and_closes_nothing(personas):
    client = personas.tara_client
    page = logged_in(personas.tara).get(reverse("close_episode", args=[client.public_id]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "How did the episode end?" in text
    assert 'type="radio" name="ending" value="planned"' in text
    assert 'type="radio" name="ending" value="unilateral"' in text
    assert "counts as a drop-out" in text
    assert client.current_episode.is_open
    assert not AuditEvent.objects.filter(action="episode.closed").exists()


def test_the_confirmed_close_stores_the_ending_and_is_audited(personas):
    client = personas.tara_client
    url = reverse("close_episode", args=[client.public_id])
    response = logged_in(personas.tara).post(url, {"ending": "unilateral"})
    assert response.status_code == 302
    episode = client.current_episode
    assert (episode.ending, episode.end_date is not None) == ("unilateral", True)
    assert AuditEvent.objects.filter(action="episode.closed", target_id=episode.public_id).exists()


def test_a_close_without_an_ending_shows_the_page_again_and_keeps_the_episode_open(personas):
    client = personas.tara_client
    url = reverse("close_episode", args=[client.public_id])
    response = logged_in(personas.tara).post(url, {})
    assert response.status_code == 400
    assert "Choose how the episode ended" in response.content.decode()
    assert client.current_episode.is_open


def test_the_close_page_of_a_closed_episode_goes_back_to_the_client(personas):
    client = closed_client(personas)
    response = logged_in(personas.tara).get(reverse("close_episode", args=[client.public_id]))
    assert response.status_code == 302 and response.url == reverse(
        "client", args=[client.public_id]
    )


# -- reopening ----------------------------------------------------------------------------------


def test_a_closed_episode_is_reopened_within_the_window_and_audited(personas):
    client = closed_client(personas)
    episode = client.current_episode
    page = logged_in(personas.tara).get(reverse("client", args=[client.public_id]))
    assert "Reopen this episode" in page.content.decode()
    response = logged_in(personas.tara).post(reverse("reopen_episode", args=[client.public_id]))
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.is_open and episode.ending == ""
    event = AuditEvent.objects.get(action="episode.reopened", target_id=episode.public_id)
    assert event.detail["before"]["ending"] == "planned"
    assert client.episodes.count() == 1


def test_past_the_agencys_window_the_therapist_is_told_to_start_a_new_episode(personas):
    personas.riverside.reopen_days = 30
    personas.riverside.save()
    client = closed_client(personas, ended=START + datetime.timedelta(days=1))
    page = logged_in(personas.tara).get(reverse("client", args=[client.public_id])).content
    text = page.decode()
    assert "Reopen this episode" not in text
    assert "more than 30 days ago and can no longer be reopened" in text
    assert "Start a new episode" in text
    response = logged_in(personas.tara).post(reverse("reopen_episode", args=[client.public_id]))
    assert response.status_code == 400
    assert "start a new episode instead" in response.content.decode()
    assert not client.current_episode.is_open


def test_the_window_is_counted_from_the_end_date_with_an_injected_day(personas):
    client = closed_client(personas, ended=START + datetime.timedelta(days=1))
    episode = client.current_episode
    last_day = episode.end_date + datetime.timedelta(days=personas.riverside.reopen_days)
    with pytest.raises(services.ServiceError, match="no longer be reopened"):
        services.reopen_episode(personas.tara, episode, on=last_day + datetime.timedelta(days=1))
    assert services.reopen_episode(personas.tara, episode, on=last_day).is_open


def test_only_the_latest_episode_can_be_reopened(personas):
    client = closed_client(personas)
    first = client.current_episode
    second = services.start_episode(personas.tara, client)
    services.close_episode(personas.tara, second, "planned")
    with pytest.raises(services.ServiceError, match="latest episode"):
        services.reopen_episode(personas.tara, first)
    with pytest.raises(services.ServiceError, match="open"):
        services.reopen_episode(personas.tara, services.reopen_episode(personas.tara, second))


# -- a returning client -------------------------------------------------------------------------


def test_a_returning_client_gets_a_new_episode_under_the_same_code(personas):
    client = closed_client(personas)
    first = client.current_episode
    response = logged_in(personas.tara).post(reverse("start_episode", args=[client.public_id]))
    assert response.status_code == 302
    second = client.current_episode
    assert second != first and second.is_open and second.client == client
    assert (second.outcome_instrument, second.alliance_instrument) == ("ors", "srs")
    assert second.start_date >= first.end_date
    assert Episode.objects.filter(client=client).count() == 2
    assert first.administrations.count() == 1  # the history is kept
    event = AuditEvent.objects.get(action="episode.started", target_id=second.public_id)
    assert event.detail["previous"] == first.public_id
    session = services.start_session(personas.tara, client)
    assert (session.episode, session.number) == (second, 1)


def test_a_new_episode_is_refused_while_one_is_open(personas):
    client = personas.tara_client
    response = logged_in(personas.tara).post(reverse("start_episode", args=[client.public_id]))
    assert response.status_code == 400
    assert "already has an open episode" in response.content.decode()
    assert client.episodes.count() == 1


def test_the_client_page_shows_the_current_episode_and_links_the_earlier_one(personas):
    client = closed_client(personas)
    first = client.current_episode
    second = services.start_episode(personas.tara, client)
    browser = logged_in(personas.tara)
    page = browser.get(reverse("client", args=[client.public_id])).content.decode()
    assert 'data-testid="episode-list"' in page
    earlier = reverse("client_episode", args=[client.public_id, first.public_id])
    assert f'href="{earlier}"' in page
    assert "Start today&#x27;s session" in page or "Start today's session" in page
    assert "0 sessions" in page  # the new episode's
    old = browser.get(earlier)
    text = old.content.decode()
    assert old.status_code == 200
    assert "An earlier episode (read only)." in text
    assert 'data-testid="progress-graph"' in text and 'data-session="1"' in text
    assert "Start today" not in text and "Close episode" not in text
    assert "Reopen this episode" not in text and "Start a new episode" not in text
    assert reverse("session", args=[client.public_id, 1]) not in text
    assert second.public_id not in text or 'aria-current="page"' in text
    events = AuditEvent.objects.filter(action="client.viewed", detail__episode=first.public_id)
    assert events.exists()


def test_an_episode_is_only_reachable_through_its_own_visible_client(personas):
    client = closed_client(personas)
    episode = client.current_episode
    other = personas.theo_client
    wrong_client = reverse("client_episode", args=[other.public_id, episode.public_id])
    assert logged_in(personas.theo).get(wrong_client).status_code == 404
    own = reverse("client_episode", args=[client.public_id, episode.public_id])
    assert logged_in(personas.theo).get(own).status_code == 404
    assert logged_in(personas.olga).get(own).status_code == 404


# -- a known code in "New client" ---------------------------------------------------------------


def new_client_post(code: str) -> dict[str, str]:
    return {"display_code": code, "age_band": "adult"}


def test_re_adding_a_known_code_offers_the_existing_client(personas):
    client = closed_client(personas)
    response = logged_in(personas.tara).post(reverse("new_client"), new_client_post("R-TARA-1"))
    text = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="existing-client"' in text
    assert f'href="{reverse("client", args=[client.public_id])}"' in text
    assert reverse("start_episode", args=[client.public_id]) in text
    assert "There is already a client" not in text
    assert Client.objects.filter(display_code="R-TARA-1").count() == 1


def test_a_known_code_with_an_open_episode_offers_only_the_link(personas):
    client = personas.tara_client
    response = logged_in(personas.tara).post(reverse("new_client"), new_client_post("R-TARA-1"))
    text = response.content.decode()
    assert f'href="{reverse("client", args=[client.public_id])}"' in text
    assert reverse("start_episode", args=[client.public_id]) not in text


def test_a_code_the_user_may_not_see_is_not_offered(personas):
    response = logged_in(personas.theo).post(reverse("new_client"), new_client_post("R-TARA-1"))
    text = response.content.decode()
    assert response.status_code == 400
    assert personas.tara_client.public_id not in text
    assert 'data-testid="existing-client"' not in text


def test_another_agencys_code_is_unknown_and_the_code_is_free_there(personas):
    response = logged_in(personas.oscar).post(reverse("new_client"), new_client_post("R-TARA-1"))
    assert response.status_code == 302
    assert personas.tara_client.public_id not in response.url
    codes = Client.objects.filter(display_code="R-TARA-1")
    assert sorted(c.agency.name for c in codes) == sorted(
        [personas.riverside.name, personas.hillside.name]
    )


# -- the caseload -------------------------------------------------------------------------------


def caseload(user, query: str = "") -> str:
    return logged_in(user).get("/" + query).content.decode()


def test_the_caseload_shows_open_clients_by_default_and_closed_ones_on_request(personas):
    closed_client(personas)
    assert ">R-TARA-1<" not in caseload(personas.tara)
    assert ">R-THEO-2<" in caseload(personas.tara)  # shared with tara, open
    closed = caseload(personas.tara, "?state=closed")
    assert ">R-TARA-1<" in closed and ">R-THEO-2<" not in closed
    assert "Start session for R-TARA-1" not in closed and "Closed " in closed
    everyone = caseload(personas.tara, "?state=all")
    assert ">R-TARA-1<" in everyone and ">R-THEO-2<" in everyone
    assert '<option value="closed" selected>' in closed


def test_a_client_with_a_new_episode_is_open_again_and_listed_once(personas):
    client = closed_client(personas)
    services.start_episode(personas.tara, client)
    assert caseload(personas.tara, "?state=all").count(">R-TARA-1<") == 1
    assert ">R-TARA-1<" in caseload(personas.tara)
    assert ">R-TARA-1<" not in caseload(personas.tara, "?state=closed")
    services.close_episode(personas.tara, client.current_episode, "unilateral")
    assert caseload(personas.tara, "?state=closed").count(">R-TARA-1<") == 1


def test_the_search_finds_a_closed_client_by_code(personas):
    closed_client(personas)
    found = caseload(personas.tara, "?q=tara-1")
    assert ">R-TARA-1<" in found
    assert ">R-TARA-1<" in caseload(personas.tara, "?q=tara-1&state=closed")
    assert ">R-THEO-2<" not in found
    assert ">R-TARA-1<" not in caseload(personas.theo, "?q=tara-1&state=all")


def test_the_closed_filter_keeps_the_caseload_query_count_flat(personas):
    from tests.web.test_web_caseload_queries import add_clients

    def closed_queries() -> tuple[int, str]:
        browser = logged_in(personas.tara)
        with CaptureQueriesContext(connection) as captured:
            page = browser.get("/?state=all").content.decode()
        return len(captured), page

    def close_all() -> None:
        for episode in Episode.objects.filter(client__display_code__startswith="LOAD-").open():
            services.close_episode(personas.tara, episode, "planned")
            services.start_episode(personas.tara, episode.client)
            services.close_episode(personas.tara, episode.client.current_episode, "planned")

    add_clients(personas, 0, 5)
    close_all()
    few, page = closed_queries()
    assert page.count(">LOAD-") == 5
    add_clients(personas, 5, 50)
    close_all()
    many, page = closed_queries()
    assert page.count(">LOAD-") == 50
    assert few == many == 3


# -- several episodes per client elsewhere ------------------------------------------------------


def csv_rows(browser: Browser, kind: str, research: bool) -> list[dict[str, str]]:
    response = browser.post(f"/reports/exports/{kind}.csv", {"research": "1"} if research else {})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("research", [False, True])
def test_the_exports_keep_a_returning_clients_episodes_apart(personas, research):
    client = closed_client(personas)
    first = client.current_episode
    second = services.start_episode(personas.tara, client)
    session = services.start_session(personas.tara, client)
    services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key="second", total="25"
    )
    browser = logged_in(personas.alice)
    episodes = csv_rows(browser, "episodes", research)
    if research:  # the one pseudonymous client with two episodes
        counts: dict[str, int] = {}
        for row in episodes:
            counts[row["client_id"]] = counts.get(row["client_id"], 0) + 1
        ours = [row for row in episodes if counts[row["client_id"]] == 2]
    else:
        ours = [row for row in episodes if row["client_code"] == "R-TARA-1"]
    ids = {row["episode_id"] for row in ours}
    assert len(ours) == 2 and len(ids) == 2
    if not research:
        assert ids == {first.public_id, second.public_id}
    rated = [
        row for row in csv_rows(browser, "administrations", research) if row["episode_id"] in ids
    ]
    assert len(rated) == 2 and {row["episode_id"] for row in rated} == ids


def test_the_client_pdf_shows_the_current_episode(personas, monkeypatch):
    from alliance.reports import views as report_views

    client = closed_client(personas)
    second = services.start_episode(personas.tara, client)
    seen: dict[str, object] = {}

    def capture(template: str, context: dict) -> bytes:
        seen.update(context)
        return b"%PDF-1.4"

    monkeypatch.setattr(report_views, "render_pdf", capture)
    response = logged_in(personas.tara).get(reverse("reports:client_pdf", args=[client.public_id]))
    assert response.status_code == 200
    assert seen["episode"] == second and seen["administrations"] == []


def test_a_superuser_sets_an_agencys_reopen_window_in_the_admin(personas):
    from alliance.accounts.models import User

    root = User.objects.create_superuser("root", password="x" * 16)
    page = logged_in(root).get(
        reverse("admin:accounts_agency_change", args=[personas.riverside.pk])
    )
    assert page.status_code == 200 and 'name="reopen_days"' in page.content.decode()


def test_a_known_code_is_offered_even_before_the_rest_of_the_form_is_filled_in(personas):
    client = closed_client(personas)
    browser = logged_in(personas.tara)
    response = browser.post(reverse("new_client"), {"display_code": " R-TARA-1 "})
    assert response.status_code == 200
    assert reverse("start_episode", args=[client.public_id]) in response.content.decode()
    assert "Choose an age band" not in response.content.decode()
