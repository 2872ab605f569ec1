"""Pages, PDFs, exports and API responses with clinical data are never cached, and a caseload
search never reaches a log line (issue 11, section 4)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client as Browser
from django.urls import reverse

from alliance.api.services import create_token
from alliance.care import services


def _browser(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


@pytest.fixture
def rated(personas):
    session = services.start_session(personas.tara, personas.tara_client)
    services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key="k1", total=20
    )
    return session


def _pages(personas, rated) -> list[tuple[str, str, dict]]:
    client = personas.tara_client.public_id
    return [
        ("GET", reverse("caseload"), {}),
        ("GET", reverse("caseload") + "?q=R-TARA", {}),
        ("GET", reverse("client", args=[client]), {}),
        ("GET", reverse("session", args=[client, rated.number]), {}),
        ("GET", reverse("reports:client_pdf", args=[client]), {}),
        ("GET", reverse("reports:effectiveness_pdf"), {}),
        ("GET", reverse("reports:dashboard"), {}),
        ("POST", reverse("reports:export_csv", args=["administrations"]), {}),
        ("GET", reverse("audit:export"), {}),
        ("GET", reverse("agency:people"), {}),
        ("GET", reverse("agency:person", args=[personas.tara.public_id]), {}),
    ]


def test_every_page_pdf_and_export_with_clinical_data_is_sent_with_no_store(personas, rated):
    browser = _browser(personas.alice)
    for method, url, data in _pages(personas, rated):
        response = browser.get(url) if method == "GET" else browser.post(url, data)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url


def test_the_django_admin_is_sent_with_no_store_to_a_superuser(personas, rated):
    from alliance.accounts.models import User

    root = User.objects.create_superuser("root", password="x" * 16)
    response = _browser(root).get(reverse("admin:care_client_changelist"))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]


def test_api_responses_with_clinical_data_are_sent_with_no_store(personas, rated):
    secret = create_token(personas.tara, name="t", scope="read").secret
    api = Browser(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client = personas.tara_client.public_id
    episode = rated.episode.public_id
    paths = (
        f"/clients/{client}",
        "/clients",
        "/administrations",
        f"/episodes/{episode}",
        f"/episodes/{episode}/signals",
        "/sessions",
    )
    for path in paths:
        response = api.get(f"/api/v1{path}")
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path


def test_a_caseload_search_term_never_reaches_the_request_log(personas, caplog):
    with caplog.at_level(logging.INFO, logger="alliance.request"):
        response = _browser(personas.tara).get(reverse("caseload"), {"q": "Jane Doe"})
    assert response.status_code == 200
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("GET / 200") for line in lines)
    assert not any("Jane" in line or "q=" in line for line in lines)
