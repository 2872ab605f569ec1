"""The API rate limit: a sliding window per token, counted in a cache every worker and process
reads (Redis with REDIS_URL, else the database cache table), on an injected clock."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import connection

from alliance.api import auth
from alliance.api.models import ApiToken
from alliance.api.services import find_token
from tests.api.conftest import Api

WINDOW_END = 1_800_000_000 // 60 * 60 + 60  # a window boundary (a multiple of 60 s)


@pytest.fixture
def limit_of_three(settings):
    settings.API_RATE_LIMIT = 3
    settings.API_RATE_WINDOW_SECONDS = 60


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = WINDOW_END - 0.5

    monkeypatch.setattr(auth, "clock", lambda: Clock.now)
    return Clock


def test_requests_beyond_the_limit_get_429_whichever_side_of_a_window_boundary(
    personas, token_for, limit_of_three, clock
):
    api = Api(token_for(personas.tara))
    assert [api.get("/me").status_code for _ in range(3)] == [200, 200, 200]
    clock.now = WINDOW_END + 0.5  # a fixed window would start counting again here
    limited = api.get("/me")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_the_window_slides_and_a_refused_request_is_not_counted(
    personas, token_for, limit_of_three, clock
):
    api = Api(token_for(personas.tara))
    assert [api.get("/me").status_code for _ in range(3)] == [200, 200, 200]
    clock.now = WINDOW_END + 10
    refused = [api.get("/me").status_code for _ in range(5)]
    assert refused == [429] * 5
    retry_after = int(api.get("/me")["Retry-After"])
    # Three requests half a second before the boundary weigh (60 - t) / 60 of three at t s after
    # it: one more fits once that is at most two, at t = 20 s, ten seconds from now.
    assert retry_after == 10
    clock.now = WINDOW_END + 20
    assert api.get("/me").status_code == 200
    assert api.get("/me").status_code == 429


def test_the_limit_is_per_token(personas, token_for, limit_of_three, clock):
    api = Api(token_for(personas.tara))
    assert [api.get("/me").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert Api(token_for(personas.tara)).get("/me").status_code == 200


def test_two_cache_clients_count_together_as_two_workers_would(personas, token_for, settings):
    settings.API_RATE_LIMIT = 4
    settings.API_RATE_WINDOW_SECONDS = 60
    token = find_token(token_for(personas.tara))
    assert isinstance(token, ApiToken)
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second
    now = WINDOW_END + 1.0
    for cache in (first, second, first, second):
        auth.cache = cache
        try:
            auth.check_rate(token, now=now)
        finally:
            auth.cache = caches["default"]
    auth.cache = second
    try:
        with pytest.raises(auth.RateLimited):
            auth.check_rate(token, now=now)
    finally:
        auth.cache = caches["default"]


def test_without_redis_the_cache_is_a_database_table_that_the_test_setup_creates(personas):
    backend = django_settings.CACHES["default"]["BACKEND"]
    assert backend == "django.core.cache.backends.db.DatabaseCache"
    assert django_settings.CACHES["default"]["LOCATION"] in connection.introspection.table_names()
