"""Webhooks: HMAC-SHA256 signatures, delivery by a task, retry with backoff, giving up, the log."""

from __future__ import annotations

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from alliance.api import webhooks
from alliance.api.models import DeliveryStatus, WebhookDelivery
from alliance.api.services import create_webhook_endpoint
from alliance.care import services
from tests.web.personas import START

DAY1 = START + datetime.timedelta(days=1)


class Receiver:
    """A small HTTP server on 127.0.0.1 that answers with the given statuses, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    # The receiver is plain http on loopback: allowed only in DEBUG and for a listed network.
    settings.DEBUG = True
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    servers = []

    def start(statuses=()):
        server = Receiver(statuses)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def announce_now(agency_id: int, event: str, make_data):
    """``webhooks.announce`` and the first attempts, which wait for the commit: run here."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return webhooks.announce(agency_id, event, make_data)


def record_ors(personas, total: float, day: datetime.date, key: str):
    session = services.start_session(personas.tara, personas.tara_client, on=day)
    return services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key=key, total=total
    )


def test_a_recorded_administration_is_delivered_signed_after_commit(
    personas, receiver, django_capture_on_commit_callbacks
):
    server = receiver()
    endpoint = create_webhook_endpoint(
        personas.alice, personas.riverside, url=server.url, events=["administration.recorded"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = record_ors(personas, 20.0, DAY1, "hook-1")
    assert len(server.requests) == 1
    headers, body = server.requests[0]
    assert headers["X-Alliance-Event"] == "administration.recorded"
    timestamp, signature = headers["X-Alliance-Timestamp"], headers["X-Alliance-Signature"]
    assert webhooks.verify_signature(endpoint.secret, timestamp, body, signature)
    assert not webhooks.verify_signature(endpoint.secret, timestamp, body + b" ", signature)
    assert not webhooks.verify_signature("another-secret", timestamp, body, signature)
    stale = int(timestamp) + 301
    assert not webhooks.verify_signature(endpoint.secret, timestamp, body, signature, now=stale)
    payload = json.loads(body)
    assert payload["event"] == "administration.recorded"
    assert payload["data"]["administration"] == result.administration.public_id
    assert payload["data"]["total"] == 20.0 and payload["data"]["session_number"] == 1
    assert "R-TARA-1" not in body.decode()  # pseudonymous ids only, no display codes or names
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    # Hand-checked: HMAC-SHA256(key "secret", message "1700000000.{}").
    import hashlib
    import hmac

    expected = hmac.new(b"secret", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert webhooks.sign("secret", "1700000000", b"{}") == "sha256=" + expected


def test_nothing_is_sent_or_kept_when_the_rating_rolls_back(
    personas, receiver, django_capture_on_commit_callbacks
):
    server = receiver()
    create_webhook_endpoint(personas.alice, personas.riverside, url=server.url)
    committed = django_capture_on_commit_callbacks(execute=True)
    with committed, pytest.raises(RuntimeError), transaction.atomic():
        record_ors(personas, 20.0, DAY1, "hook-rollback")
        # The delivery is written with the rating; its attempt waits for the commit.
        assert WebhookDelivery.objects.count() == 1 and server.requests == []
        raise RuntimeError("the rating's transaction fails after all")
    assert server.requests == [] and WebhookDelivery.objects.count() == 0


def test_an_alert_raised_is_announced(personas, receiver, django_capture_on_commit_callbacks):
    server = receiver()
    create_webhook_endpoint(
        personas.alice, personas.riverside, url=server.url, events=["alert.raised"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        record_ors(personas, 20.0, DAY1, "alert-1")
    with django_capture_on_commit_callbacks(execute=True):
        # 20 -> 11: a drop of 9 points, beyond the ORS reliable change of 5.
        record_ors(personas, 11.0, DAY1 + datetime.timedelta(weeks=1), "alert-2")
    events = [json.loads(body) for _, body in server.requests]
    assert events and {e["event"] for e in events} == {"alert.raised"}
    codes = {e["data"]["code"] for e in events}
    assert "reliable_deterioration" in codes
    assert all(e["data"]["session_number"] == 2 for e in events)


def test_it_announces_each_alert_of_a_rating_in_order_looking_up_the_endpoints_once(
    personas, receiver
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alliance.care.models import Alert

    server = receiver()
    create_webhook_endpoint(
        personas.alice, personas.riverside, url=server.url, events=["alert.raised"]
    )
    session = record_ors(personas, 20.0, DAY1, "alerts").administration.session
    alerts = [
        Alert.objects.create(
            agency=personas.riverside,
            episode_id=session.episode_id,
            session_number=session.number,
            code=code,
            severity="warning",
            reason=code,
            facts={},
        )
        for code in ("first", "second")
    ]
    with (
        CaptureQueriesContext(connection) as queries,
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        webhooks.on_alerts_raised(sender=Alert, alerts=alerts)
    # (the deliveries, attempted at once here, read their endpoint with them)
    lookups = [q["sql"] for q in queries.captured_queries if '"api_webhookendpoint" W' in q["sql"]]
    # Whether the agency has an endpoint, then its endpoints: once each for both alerts.
    assert len(lookups) == 2 and lookups[0].startswith("SELECT 1 FROM"), lookups
    events = [json.loads(body) for _, body in server.requests]
    assert [e["data"]["code"] for e in events] == ["first", "second"]


def test_a_failed_delivery_is_retried_with_backoff_until_it_succeeds(personas, receiver, settings):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 60
    server = receiver(statuses=[500, 503])
    create_webhook_endpoint(personas.alice, personas.riverside, url=server.url)
    started = timezone.now()
    [delivery] = announce_now(personas.riverside.pk, "administration.recorded", lambda: {"x": 1})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    first_wait = (delivery.next_attempt_at - started).total_seconds()
    assert 59 <= first_wait <= 61 + 5
    # Not due yet: nothing is attempted.
    assert webhooks.retry_due_deliveries(now=started + datetime.timedelta(seconds=30)) == 0
    later = started + datetime.timedelta(seconds=61)
    assert webhooks.retry_due_deliveries(now=later) == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 503)
    # The second wait is twice the first: 120 s after the second attempt.
    assert (delivery.next_attempt_at - later).total_seconds() == pytest.approx(120, abs=1)
    assert webhooks.retry_due_deliveries(now=later + datetime.timedelta(seconds=121)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert delivery.next_attempt_at is None and len(server.requests) == 3
    # Every attempt carries the same delivery id (receivers de-duplicate on it).
    assert {h["X-Alliance-Delivery"] for h, _ in server.requests} == {delivery.public_id}


def test_it_gives_up_after_the_maximum_number_of_attempts(personas, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    server = receiver(statuses=[500] * 10)
    create_webhook_endpoint(personas.alice, personas.riverside, url=server.url)
    [delivery] = announce_now(personas.riverside.pk, "alert.raised", lambda: {"x": 1})
    far = timezone.now() + datetime.timedelta(days=1)
    assert webhooks.retry_due_deliveries(now=far) == 1
    assert webhooks.retry_due_deliveries(now=far + datetime.timedelta(days=1)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert delivery.next_attempt_at is None
    assert webhooks.retry_due_deliveries(now=far + datetime.timedelta(days=9)) == 0
    assert len(server.requests) == 3


def test_an_unreachable_endpoint_counts_as_a_failed_attempt(personas, receiver):
    server = receiver()
    url = server.url
    server.close()  # nothing listens there any more
    create_webhook_endpoint(personas.alice, personas.riverside, url=url)
    [delivery] = announce_now(personas.riverside.pk, "alert.raised", lambda: {"x": 1})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error


def test_admins_manage_endpoints_and_read_the_delivery_log_through_the_api(
    personas, api_as, receiver
):
    server = receiver(statuses=[500])
    api = api_as(personas.alice)
    created = api.post("/webhooks", {"url": server.url, "events": ["alert.raised"]})
    assert created.status_code == 201
    endpoint = created.json()
    assert len(endpoint["secret"]) >= 40 and endpoint["events"] == ["alert.raised"]
    assert "secret" not in api.get("/webhooks").json()["items"][0]
    announce_now(personas.riverside.pk, "alert.raised", lambda: {"x": 1})
    log = api.get(f"/webhooks/{endpoint['id']}/deliveries").json()
    assert log["count"] == 1
    assert (log["items"][0]["status"], log["items"][0]["last_status_code"]) == ("pending", 500)
    # Another agency's admin cannot see it.
    assert api_as(personas.olga).get(f"/webhooks/{endpoint['id']}/deliveries").status_code == 404
    bad = api.post("/webhooks", {"url": "ftp://example.org/x"})
    assert bad.status_code == 422
    assert api.delete(f"/webhooks/{endpoint['id']}").status_code == 204
    assert api.get("/webhooks").json()["count"] == 0


def test_no_payload_is_built_when_no_endpoint_subscribes(personas):
    def payload():
        raise AssertionError("built for nobody")

    assert announce_now(personas.riverside.pk, "administration.recorded", payload) == []


def test_deliveries_queued_under_the_old_task_path_still_find_their_task():
    from django.utils.module_loading import import_string

    # Rows of the database task queue name a task by module path; it moved beside attempt().
    assert webhooks.deliver_webhook.module_path == "alliance.api.webhooks.deliver_webhook"
    assert import_string("alliance.api.tasks.deliver_webhook") is webhooks.deliver_webhook
