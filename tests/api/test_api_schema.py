"""Schemathesis against the OpenAPI document: no server error, no response outside the schema.

Runs every operation of /api/v1/ through the WSGI app (no server) with generated requests and a
valid write token of an agency admin (so every operation is reachable), with every check
schemathesis has (the equivalent of ``--checks all``), valid and invalid data alike (NUL
characters in text included), a bounded number of examples each (about a minute in all).
A request that is valid by the schema may still break a rule the schema cannot say (an unknown
instrument, a date out of range, a client of another agency): 4xx other than 400 is expected
for it. Unknown query parameters are ignored, as HTTP allows, so none are generated.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from alliance.wsgi import application  # noqa: E402 (pytest-django has configured Django)

# The document is served by the app itself (no database needed for it).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    allow_x00=True,
    allow_extra_parameters=False,
    with_security_parameters=False,
)
schema.config.checks.update(included_check_names=["all"])
schema.config.checks.positive_data_acceptance.expected_statuses = [
    "2XX", "401", "403", "404", "409", "413", "422", "429",
]  # fmt: skip


@pytest.fixture
def admin_token(personas, token_for, settings):
    settings.API_RATE_LIMIT = 100_000
    return token_for(personas.alice, "write", "integration")


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request must not close the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_operation_answers_within_its_documented_schema(case, admin_token):
    # No ``checks=``: every check the configuration enables, that is all of them.
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"})


def call(client, method: str, path: str, token: str, body=None):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is None:
        return getattr(client, method)(path, **extra)
    return getattr(client, method)(path, json.dumps(body), content_type="application/json", **extra)


def test_nul_characters_anywhere_are_a_json_422_never_a_server_error(client, personas, admin_token):
    patient = personas.tara_client.public_id
    for method, path, body in [
        ("get", "/api/v1/clients/a%00b", None),
        ("get", "/api/v1/episodes?client=a%00b", None),
        ("get", "/api/v1/reports/effectiveness?instrument=ors%00", None),
        ("post", "/api/v1/clients", {"display_code": "N-1", "name": "a\x00b"}),
        ("post", "/api/v1/clients", {"display_code": "N-1", "team": "\x00"}),
        ("post", "/api/v1/sessions", {"client": "\x00"}),
        ("patch", f"/api/v1/clients/{patient}", {"name": "\x00"}),
        ("post", "/api/v1/webhooks", {"url": "https://a\x00.example.org/x"}),
        ("post", "/api/v1/imports/fhir", {"resourceType": "Bundle\x00"}),
    ]:
        response = call(client, method, path, admin_token, body)
        assert response.status_code == 422, (path, body, response.content)
        assert response.json()["code"] == "invalid"
        assert "NUL" in response.json()["message"]
    # The pages too: a plain 400 before any view (a lookup with it was a PostgreSQL error).
    client.force_login(personas.tara)
    assert client.get("/clients/a%00b/").status_code == 400


@pytest.mark.parametrize("offset", [2**63, 2**64 + 1, 10**30])
def test_offsets_and_limits_beyond_64_bits_are_a_422(client, personas, admin_token, offset):
    for path in ("/api/v1/clients", "/api/v1/episodes", "/api/v1/webhooks"):
        for query in (f"offset={offset}", f"limit={offset}"):
            response = call(client, "get", f"{path}?{query}", admin_token)
            assert response.status_code == 422, (path, query)
            assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("body", [[None, None], None, "x", 3, []])
def test_a_patch_body_that_is_not_an_object_is_refused_and_changes_nothing(
    client, personas, admin_token, body
):
    patient = personas.tara_client
    session = patient.episodes.get().sessions.first()
    paths = [f"/api/v1/clients/{patient.public_id}"]
    if session is not None:
        paths.append(f"/api/v1/sessions/{session.public_id}")
    for path in paths:
        response = client.patch(
            path,
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {admin_token}",
        )
        assert response.status_code == 400, (path, body)
        assert response.json() == {
            "code": "bad_request",
            "message": "the body must be a JSON object",
        }


def test_the_document_declares_errors_pagination_and_bearer_auth(client, db):
    document = client.get("/api/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    clients = document["paths"]["/api/v1/clients"]["get"]
    parameters = {p["name"]: p for p in clients["parameters"]}
    assert parameters["limit"]["schema"]["default"] == 50
    assert parameters["limit"]["schema"]["maximum"] == 500
    assert "offset" in parameters
    assert "4XX" in clients["responses"] or "404" in clients["responses"]
