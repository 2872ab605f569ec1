"""Fixtures shared by the web and browser tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def personas(db):  # type: ignore[no-untyped-def]
    """Riverside (alice, sam, tara, theo) and Hillside (olga, oscar) with a few clients."""
    from tests.web.personas import create_personas

    return create_personas()
