"""Fixtures shared by the web and browser tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def personas(db):  # type: ignore[no-untyped-def]
    """Riverside (alice, sam, tara, theo) and Hillside (olga, oscar) with a few clients."""
    from tests.web.personas import create_personas

    return create_personas()


@pytest.fixture(autouse=True)
def _example_hosts_resolve_to_a_public_address(monkeypatch):
    """The test machine has no DNS: webhook hosts under example.org/.com resolve to a public
    (documentation-free) address, as they would on the internet; others resolve as usual."""
    import socket

    from alliance.api import webhooks

    real = webhooks._resolve

    def resolve(host: str, port: int, **kwargs):
        if host in ("example.org", "example.com") or host.endswith(
            (".example.org", ".example.com")
        ):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, **kwargs)

    monkeypatch.setattr(webhooks, "_resolve", resolve)


@pytest.fixture(autouse=True)
def _each_test_starts_in_the_default_language():
    """A view that activated a client's language (a Spanish link form) leaves it active in the
    thread; a service called outside a request afterwards would take it for the staff member's
    language (a new link's language). Each test starts from the site's default, as a request
    does from its own."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
