"""URL x role matrix: anonymous -> login; another agency or another therapist's client -> 404."""

from __future__ import annotations

import pytest
from django.test import Client as Browser
from django.urls import reverse

from alliance.care import services
from alliance.care.models import Administration


def client_urls(client) -> dict[str, str]:
    return {
        "client": reverse("client", args=[client.public_id]),
        "session": reverse("session", args=[client.public_id, 1]),
    }


def post_urls(client, administration) -> list[str]:
    return [
        reverse("start_session", args=[client.public_id]),
        reverse("close_episode", args=[client.public_id]),
        reverse("undo_administration", args=[client.public_id, 1, administration.public_id]),
        reverse("session", args=[client.public_id, 1]),
    ]


@pytest.fixture
def scored(personas):
    """A first session with an ORS for each persona client."""
    stored = {}
    for name in ("tara_client", "theo_client", "shared_client", "oscar_client"):
        client = getattr(personas, name)
        session = services.start_session(client.therapist, client)
        result = services.record_administration(
            client.therapist, session, instrument="ors", idempotency_key=f"k-{name}", total="20"
        )
        stored[name] = result.administration
    return stored


def as_user(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def test_anonymous_visitors_are_sent_to_login_everywhere(personas, scored):
    browser = Browser()
    gets = ["/", "/account/password/", *client_urls(personas.tara_client).values()]
    for url in gets:
        response = browser.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url
    for url in post_urls(personas.tara_client, scored["tara_client"]):
        response = browser.post(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), url
    assert Administration.objects.count() == 4


VISIBLE = {
    "alice": {"tara_client", "theo_client", "shared_client"},
    "sam": {"tara_client"},
    "tara": {"tara_client", "shared_client"},
    "theo": {"theo_client", "shared_client"},
    "olga": {"oscar_client"},
    "oscar": {"oscar_client"},
}
CLIENTS = ("tara_client", "theo_client", "shared_client", "oscar_client")


@pytest.mark.parametrize("role_user", sorted(VISIBLE))
def test_each_role_gets_200_for_visible_clients_and_404_for_all_others(personas, scored, role_user):
    browser = as_user(getattr(personas, role_user))
    assert browser.get("/").status_code == 200
    for name in CLIENTS:
        expected = 200 if name in VISIBLE[role_user] else 404
        for page, url in client_urls(getattr(personas, name)).items():
            assert browser.get(url).status_code == expected, (role_user, name, page)


@pytest.mark.parametrize("role_user", ["tara", "olga"])
def test_posts_about_invisible_clients_are_404_and_change_nothing(personas, scored, role_user):
    browser = as_user(getattr(personas, role_user))
    for name in CLIENTS:
        if name in VISIBLE[role_user]:
            continue
        client = getattr(personas, name)
        for url in post_urls(client, scored[name]):
            assert browser.post(url, {"ending": "planned"}).status_code == 404, url
    assert Administration.objects.count() == 4
    assert not any(
        client.episodes.get().end_date for client in (personas.theo_client, personas.oscar_client)
    )


def test_an_administration_of_another_session_cannot_be_undone_through_a_visible_client(
    personas, scored
):
    browser = as_user(personas.tara)
    url = reverse(
        "undo_administration",
        args=[personas.tara_client.public_id, 1, scored["oscar_client"].public_id],
    )
    assert browser.post(url).status_code == 404
    assert Administration.objects.count() == 4


def test_no_personal_data_appears_in_urls(personas):
    url = reverse("client", args=[personas.tara_client.public_id])
    assert "R-TARA-1" not in url and len(personas.tara_client.public_id) >= 12
