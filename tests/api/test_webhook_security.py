"""Webhooks: only public https addresses, checked again at delivery; one message for every
connection failure; Standard Webhooks signatures (issue 11, section 2)."""

from __future__ import annotations

import socket
import threading

import pytest
from standardwebhooks import Webhook

from alliance.api import webhooks
from alliance.api.models import WebhookDelivery, WebhookEndpoint
from alliance.api.services import create_webhook_endpoint
from alliance.care.services import ServiceError
from tests.api.test_api_webhooks import announce_now, receiver  # noqa: F401 (fixture)


def resolving_to(*addresses):
    def resolve(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


BLOCKED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.100.100.200",  # shared address space (another cloud's metadata)
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "::1",
    "::ffff:127.0.0.1",
    "fd00:ec2::254",
    "fe80::1",
    "ff02::1",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_a_url_resolving_to_a_local_private_or_metadata_address_is_refused(address):
    with pytest.raises(webhooks.BlockedAddress, match="public address"):
        webhooks.check_url("https://hooks.example.org/x", resolve=resolving_to(address))


def test_one_blocked_address_among_public_ones_is_enough_to_refuse():
    resolve = resolving_to("93.184.216.34", "10.0.0.1")
    with pytest.raises(webhooks.BlockedAddress):
        webhooks.check_url("https://hooks.example.org/x", resolve=resolve)


def test_a_public_https_url_is_accepted_and_http_only_in_debug(settings):
    public = resolving_to("93.184.216.34")
    assert webhooks.check_url("https://hooks.example.org:8443/x", resolve=public) == (
        "https",
        "hooks.example.org",
        8443,
        "93.184.216.34",
    )
    settings.DEBUG = False
    with pytest.raises(webhooks.BlockedAddress, match="https://"):
        webhooks.check_url("http://hooks.example.org/x", resolve=public)
    settings.DEBUG = True
    assert webhooks.check_url("http://hooks.example.org/x", resolve=public)[0] == "http"


def test_a_network_the_operator_lists_is_allowed(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.1.2.0/24"]
    assert webhooks.check_url("https://in.clinic/x", resolve=resolving_to("10.1.2.3"))
    with pytest.raises(webhooks.BlockedAddress):
        webhooks.check_url("https://in.clinic/x", resolve=resolving_to("10.1.3.3"))


def test_registration_refuses_a_loopback_or_plain_http_url(personas, api_as, settings):
    settings.DEBUG = False
    api = api_as(personas.alice)
    for url in ("https://127.0.0.1/hooks", "https://localhost/hooks", "http://example.org/x"):
        response = api.post("/webhooks", {"url": url})
        assert response.status_code == 422, url
        assert response.json()["code"] == "rule_broken"
    with pytest.raises(ServiceError):
        create_webhook_endpoint(personas.alice, personas.riverside, url="https://[::1]/x")


def test_the_address_is_checked_again_at_delivery_time(personas, receiver, settings):  # noqa: F811
    server = receiver()
    endpoint = create_webhook_endpoint(personas.alice, personas.riverside, url=server.url)
    # The host now resolves somewhere else (or the operator withdrew the network).
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    [delivery] = announce_now(personas.riverside.pk, "alert.raised", lambda: {"x": 1})
    delivery.refresh_from_db()
    assert server.requests == []
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "public address" in delivery.last_error
    assert endpoint.url == server.url


def test_a_refused_port_and_a_silent_one_give_the_same_message(personas, settings):
    settings.DEBUG = True
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens: connection refused
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts, never answers: a timeout
    hangup = socket.socket()
    hangup.bind(("127.0.0.1", 0))
    hangup.listen()

    def hang_up():
        connection, _ = hangup.accept()
        connection.close()  # answers with nothing

    threading.Thread(target=hang_up, daemon=True).start()
    errors = []
    try:
        for port in (closed_port, silent.getsockname()[1], hangup.getsockname()[1]):
            WebhookDelivery.objects.all().delete()
            WebhookEndpoint.objects.filter(agency=personas.riverside).delete()
            url = f"http://127.0.0.1:{port}/hooks"
            create_webhook_endpoint(personas.alice, personas.riverside, url=url)
            [delivery] = announce_now(personas.riverside.pk, "alert.raised", lambda: {})
            delivery.refresh_from_db()
            errors.append(delivery.last_error)
    finally:
        silent.close()
        hangup.close()
    assert errors == [webhooks.UNREACHABLE] * 3


def test_the_signature_matches_the_standard_webhooks_test_vector():
    # From the Standard Webhooks specification and its reference libraries.
    signature = webhooks.standard_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_delivery_verifies_with_the_standard_webhooks_library(
    personas,
    receiver,  # noqa: F811
):
    server = receiver()
    endpoint = create_webhook_endpoint(personas.alice, personas.riverside, url=server.url)
    assert endpoint.secret.startswith("whsec_")
    [delivery] = announce_now(personas.riverside.pk, "alert.raised", lambda: {"x": 1})
    headers, body = server.requests[0]
    lowered = {name.lower(): value for name, value in headers.items()}
    assert lowered["webhook-id"] == delivery.public_id
    payload = Webhook(endpoint.secret).verify(body, lowered)
    assert payload["data"] == {"x": 1}
    with pytest.raises(Exception):  # noqa: B017 (the library's own verification error)
        Webhook(endpoint.secret).verify(body + b" ", lowered)


def test_a_host_that_resolves_elsewhere_after_registration_is_not_contacted(personas, monkeypatch):
    create_webhook_endpoint(personas.alice, personas.riverside, url="https://hooks.example.org/x")
    # DNS now points the registered host at the cloud metadata address.
    monkeypatch.setattr(webhooks, "_resolve", resolving_to("169.254.169.254"))

    def no_connection(*args, **kwargs):
        raise AssertionError("connected to a blocked address")

    monkeypatch.setattr(webhooks.socket, "create_connection", no_connection)
    [delivery] = announce_now(personas.riverside.pk, "alert.raised", lambda: {"x": 1})
    delivery.refresh_from_db()
    assert delivery.status == "pending" and "public address" in delivery.last_error
