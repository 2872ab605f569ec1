"""Fixtures for the client-facing feedback tests (personas come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from alliance.care import services


@pytest.fixture
def tara_session(personas):
    """Today's session of tara's client R-TARA-1 (ORS/SRS)."""
    return services.start_session(personas.tara, personas.tara_client)


@pytest.fixture
def sms_outbox(settings):
    from alliance.feedback.sms import LocmemBackend

    settings.ALLIANCE_SMS_BACKEND = "alliance.feedback.sms.LocmemBackend"
    LocmemBackend.outbox = []
    return LocmemBackend.outbox
