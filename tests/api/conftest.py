"""Fixtures for the REST API tests: personas, tokens and an authenticated JSON client."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client


class Api:
    """A Django test client that sends a bearer token and JSON bodies."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", params, **self._headers())

    def post(self, path: str, data=None, **extra):
        return self.client.post(
            f"/api/v1{path}",
            data or {},
            content_type="application/json",
            **self._headers(),
            **extra,
        )

    def upload(self, path: str, content: bytes, name: str = "data.csv"):
        from django.core.files.uploadedfile import SimpleUploadedFile

        return self.client.post(
            f"/api/v1{path}", {"file": SimpleUploadedFile(name, content)}, **self._headers()
        )

    def patch(self, path: str, data):
        return self.client.patch(
            f"/api/v1{path}", data, content_type="application/json", **self._headers()
        )

    def delete(self, path: str):
        return self.client.delete(f"/api/v1{path}", **self._headers())


@pytest.fixture(autouse=True)
def _fresh_rate_limits(db):  # noqa: ARG001 (the cache is a database table)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def token_for(personas):
    """token_for(user, scope="write", kind="personal") -> the raw bearer token."""
    from alliance.api.services import create_token

    def make(user, scope: str = "write", kind: str = "personal", expires_days=None) -> str:
        return create_token(user, scope=scope, kind=kind, expires_days=expires_days).secret

    return make


@pytest.fixture
def api_as(token_for):
    """api_as(user, scope="write") -> an Api client with a fresh token of that user."""

    def make(user, scope: str = "write", kind: str = "personal") -> Api:
        return Api(token_for(user, scope, kind))

    return make
