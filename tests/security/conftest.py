"""Fixtures for the security, privacy and reliability tests (personas come from tests/conftest)."""

from __future__ import annotations

import pytest
from django.test import Client as Browser


def logged_in(user, **kwargs) -> Browser:
    browser = Browser(**kwargs)
    browser.force_login(user)
    return browser


@pytest.fixture
def tara_session(personas):
    from alliance.care import services

    return services.start_session(personas.tara, personas.tara_client)
