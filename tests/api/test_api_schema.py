"""Schemathesis against the OpenAPI document: no server error, no response outside the schema.

Runs every operation of /api/v1/ through the WSGI app (no server) with generated requests and a
valid write token of an agency admin (so every operation is reachable), a few examples each.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from alliance.wsgi import application  # noqa: E402 (pytest-django has configured Django)

# The document is served by the app itself (no database needed for it).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


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
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_operation_answers_within_its_documented_schema(case, admin_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


def test_the_document_declares_errors_pagination_and_bearer_auth(client, db):
    document = client.get("/api/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    clients = document["paths"]["/api/v1/clients"]["get"]
    parameters = {p["name"]: p for p in clients["parameters"]}
    assert parameters["limit"]["schema"]["default"] == 50
    assert parameters["limit"]["schema"]["maximum"] == 500
    assert "offset" in parameters
    assert "4XX" in clients["responses"] or "404" in clients["responses"]
