"""The agency's alliance-outcome decomposition: page, PDF, scope and small-data messages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alliance.practice.services import agency_frame
from alliance.science.alliance_outcome import alliance_outcome

pytestmark = pytest.mark.django_db


def test_the_agency_page_shows_the_science_cores_decomposition(client, history):
    p = history.personas
    client.force_login(p.alice)
    response = client.get(reverse("reports:alliance"))
    assert response.status_code == 200
    expected = alliance_outcome(agency_frame(p.riverside.pk, "ors"))["overall"]
    shown = response.context["report"]["result"]
    assert shown["between"] == expected["between"]
    assert shown["n_episodes"] == expected["n_episodes"]
    assert b'data-testid="alliance-reading"' in response.content


def test_the_pdf_renders(client, history):
    client.force_login(history.personas.alice)
    response = client.get(reverse("reports:alliance_pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_a_small_team_gets_a_clear_message_instead_of_numbers(client, history):
    p = history.personas
    client.force_login(p.sam)  # North: two therapists, too few for the model
    response = client.get(reverse("reports:alliance"))
    assert response.status_code == 200
    assert "not enough data" in response.context["report"]["error"]


def test_therapists_cannot_open_the_agency_page(client, history):
    client.force_login(history.personas.tara)
    assert client.get(reverse("reports:alliance")).status_code in (403, 404)


def _token(user, scope="read", kind="personal") -> str:
    from alliance.api.services import create_token

    return create_token(user, scope=scope, kind=kind).secret


def test_the_api_gives_the_same_decomposition(client, history):
    p = history.personas
    token = _token(p.alice, kind="integration")
    response = client.get("/api/v1/reports/alliance", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    body = response.json()
    expected = alliance_outcome(agency_frame(p.riverside.pk, "ors"))["overall"]
    assert body["result"]["between"] == expected["between"]
    assert body["alliance_instrument"] == "srs" and body["error"] is None


def test_the_api_refuses_a_therapist(client, history):
    token = _token(history.personas.tara)
    response = client.get("/api/v1/reports/alliance", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 403
