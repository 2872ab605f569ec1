"""The client's address (lockout, audit trail) is read in one place and trusts only our proxies."""

from __future__ import annotations

from django.test import RequestFactory, override_settings

from alliance.accounts.network import client_ip


def _request(peer: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_a_trusted_proxy_the_peer_address_is_used_and_the_header_ignored():
    assert client_ip(_request("198.51.100.7", "203.0.113.9")) == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=1)
def test_behind_one_proxy_the_address_the_proxy_appended_is_used():
    # The left entry was sent by the client itself and could be anything.
    assert client_ip(_request("127.0.0.1", "6.6.6.6, 203.0.113.9")) == "203.0.113.9"


@override_settings(TRUSTED_PROXIES=2)
def test_behind_two_proxies_the_second_entry_from_the_right_is_used():
    assert client_ip(_request("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2")) == "203.0.113.9"


@override_settings(TRUSTED_PROXIES=1)
def test_a_missing_or_garbled_header_falls_back_to_the_peer():
    assert client_ip(_request("127.0.0.1")) == "127.0.0.1"
    assert client_ip(_request("127.0.0.1", "not-an-address")) == "127.0.0.1"


def test_no_request_has_no_address():
    assert client_ip(None) is None
