"""Erasing a client leaves nothing behind: webhook deliveries, queued tasks and link messages,
audit details; link messages never put the address or token in a task row (issue 11, section 4)."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django_tasks_db.models import DBTaskResult

from alliance.api.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from alliance.api.webhooks import administration_payload
from alliance.audit.models import AuditEvent
from alliance.audit.services import verify_agency
from alliance.care import services
from alliance.feedback import services as feedback
from alliance.feedback.models import OutboundMessage

ADDRESS = "jane.doe@example.org"


@pytest.fixture
def database_queue(settings):
    settings.ALLIANCE_TASKS = "database"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def _rate(personas, session, key: str, total: float, *, replace: bool = False):
    return services.record_administration(
        personas.tara, session, instrument="ors", idempotency_key=key, total=total, replace=replace
    ).administration


def _deliveries(personas, administration) -> tuple[WebhookDelivery, WebhookDelivery]:
    endpoint = WebhookEndpoint.objects.create(
        agency=personas.riverside,
        url="https://ehr.example.org/hook",
        secret="s" * 32,
        events=["administration.recorded"],
    )
    payload = {"event": "administration.recorded", "data": administration_payload(administration)}
    past, pending = (
        WebhookDelivery.objects.create(
            agency=personas.riverside,
            endpoint=endpoint,
            event="administration.recorded",
            payload=payload,
            status=status,
        )
        for status in (DeliveryStatus.DELIVERED, DeliveryStatus.PENDING)
    )
    return past, pending


def test_erasure_removes_pending_deliveries_and_redacts_past_ones(personas, tara_session):
    administration = _rate(personas, tara_session, "k1", 17.5)
    past, pending = _deliveries(personas, administration)
    theo_session = services.start_session(personas.theo, personas.theo_client)
    theo_rating = services.record_administration(
        personas.theo, theo_session, instrument="ors", idempotency_key="t1", total=30
    ).administration
    _other_past, other_pending = _deliveries(personas, theo_rating)
    counts = services.erase_client(personas.alice, personas.tara_client)
    assert not WebhookDelivery.objects.filter(pk=pending.pk).exists()
    past.refresh_from_db()
    assert past.payload == {"redacted": True} and past.status == DeliveryStatus.DELIVERED
    assert (counts["webhook_deliveries_removed"], counts["webhook_deliveries_redacted"]) == (1, 1)
    # Another client's deliveries are untouched.
    other_pending.refresh_from_db()
    assert other_pending.payload["data"]["total"] == 30


def test_erasure_removes_the_clients_queued_tasks(personas, tara_session, database_queue):
    # Follow-ups wait in the queue when they failed in the request (or were queued by an
    # earlier version): one of each client's.
    tara_rating = _rate(personas, tara_session, "k1", 17.5)
    services.follow_up_rating.enqueue(tara_session.episode_id, tara_rating.pk)
    theo_session = services.start_session(personas.theo, personas.theo_client)
    theo_rating = services.record_administration(
        personas.theo, theo_session, instrument="ors", idempotency_key="t1", total=30
    ).administration
    services.follow_up_rating.enqueue(theo_session.episode_id, theo_rating.pk)
    assert DBTaskResult.objects.count() == 2
    services.erase_client(personas.alice, personas.tara_client)
    [left] = DBTaskResult.objects.all()
    assert left.args_kwargs["args"][0] == theo_session.episode_id


def test_erasure_redacts_the_clients_audit_details_and_the_chain_still_verifies(
    personas, tara_session
):
    _rate(personas, tara_session, "k1", 17.5)
    _rate(personas, tara_session, "k2", 23.5, replace=True)  # an edit: before and after totals
    client_id = personas.tara_client.public_id
    counts = services.erase_client(personas.alice, personas.tara_client)
    trail = json.dumps(
        list(AuditEvent.objects.exclude(action="client.erased").values_list("detail", flat=True))
    )
    assert "17.5" not in trail and "23.5" not in trail
    assert "individually" not in trail
    erased = AuditEvent.objects.get(action="client.erased")
    assert erased.target_id == client_id
    assert erased.detail["administrations"] == 1 and erased.detail["reason"] == "request"
    assert all(isinstance(v, int) for k, v in erased.detail.items() if k != "reason")
    assert counts["audit_events_redacted"] >= 3  # created, recorded, edited, ...
    assert verify_agency(personas.riverside.pk)[1] == []


def test_a_link_message_keeps_the_address_and_token_out_of_the_task_row(
    personas, tara_session, database_queue
):
    new = feedback.create_link(personas.tara, tara_session, instrument="ors")
    url = f"https://alliance.example.org/f/{new.token}/"
    feedback.send_link(personas.tara, new, channel="email", address=ADDRESS, url=url)
    [row] = DBTaskResult.objects.filter(task_path__endswith="send_link_message")
    stored = json.dumps(row.args_kwargs)
    assert ADDRESS not in stored and new.token not in stored
    assert row.args_kwargs["args"] == [OutboundMessage.objects.get().pk]
    # The worker sends it and forgets the address.
    assert feedback.send_link_message.call(*row.args_kwargs["args"]) is True
    assert mail.outbox[-1].to == [ADDRESS] and url in mail.outbox[-1].body
    assert not OutboundMessage.objects.exists()


def test_erasure_removes_a_queued_link_message_and_its_task(personas, tara_session, database_queue):
    new = feedback.create_link(personas.tara, tara_session, instrument="ors")
    feedback.send_link(personas.tara, new, channel="sms", address="+15550100", url="https://x/f/")
    counts = services.erase_client(personas.alice, personas.tara_client)
    assert not OutboundMessage.objects.exists()
    assert not DBTaskResult.objects.filter(task_path__endswith="send_link_message").exists()
    assert counts["link_messages_removed"] == 1
    assert feedback.send_link_message.call(1) is False
