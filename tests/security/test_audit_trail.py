"""The hash-chained audit trail: append-only, tamper-evident, viewable and exportable by admins."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from alliance.audit.models import GENESIS, LANES, AppendOnlyError, AuditEvent
from alliance.audit.services import lane_for, record, verify, verify_agency
from alliance.care import services
from tests.security.conftest import logged_in
from tests.web.personas import START


def test_each_event_links_to_the_previous_one_of_its_agency_and_lane(personas):
    first = record(personas.tara, personas.riverside, "test.one", personas.tara_client, "10.0.0.1")
    second = record(personas.tara, personas.riverside, "test.two", personas.tara_client, None)
    other = record(personas.oscar, personas.hillside, "test.one", personas.oscar_client, None)
    assert first.lane == second.lane == lane_for(personas.tara.pk, "")
    assert second.seq == first.seq + 1
    assert second.prev_hash == first.hash
    assert other.seq == AuditEvent.objects.filter(agency=personas.hillside, lane=other.lane).count()
    assert len(first.hash) == 64 and first.hash != second.hash
    lanes = AuditEvent.objects.filter(agency=personas.riverside).values_list("lane", flat=True)
    for lane in set(lanes):
        start = AuditEvent.objects.filter(agency=personas.riverside, lane=lane).order_by("seq")
        assert start.first().seq == 1 and start.first().prev_hash == GENESIS


def test_a_user_keeps_one_lane_and_events_without_a_user_go_by_their_target(personas):
    assert lane_for(personas.tara.pk, "x") == lane_for(personas.tara.pk, "y")
    assert lane_for(None, "abc") == lane_for(None, "abc")
    # Sixteen consecutive users fill the sixteen lanes: writers of one agency rarely queue.
    assert {lane_for(n, "") for n in range(100, 116)} == set(range(LANES))


def test_verify_checks_every_lane_of_an_agency(personas):
    users = [personas.tara, personas.theo, personas.alice]
    for n in range(6):
        record(users[n % 3], personas.riverside, f"test.{n}", None, None)
    assert len(set(AuditEvent.objects.values_list("lane", flat=True))) > 1
    checked, broken = verify_agency(personas.riverside.pk)
    assert broken == [] and checked == AuditEvent.objects.filter(agency=personas.riverside).count()


def test_an_event_records_who_what_when_and_from_where(personas):
    event = record(
        personas.tara, personas.riverside, "client.viewed", personas.tara_client, "10.1.2.3"
    )
    assert event.actor == personas.tara and event.actor_name == "tara"
    assert (event.target_type, event.target_id) == ("client", personas.tara_client.public_id)
    assert event.ip_address == "10.1.2.3" and event.at is not None


def test_the_orm_refuses_to_change_or_delete_events(personas):
    event = record(personas.tara, personas.riverside, "test", None, None)
    event.action = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_the_database_itself_refuses_an_update(personas):
    event = record(personas.tara, personas.riverside, "test", None, None)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test"


def test_on_postgresql_the_database_also_refuses_a_delete_but_not_the_agency_removal(personas):
    event = record(personas.oscar, personas.hillside, "test", None, None)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    # Removing the agency itself removes its trail (and only its trail).
    riverside_events = AuditEvent.objects.filter(agency=personas.riverside).count()
    personas.oscar_client.delete()
    personas.hillside.delete()
    assert not AuditEvent.objects.filter(pk=event.pk).exists()
    assert AuditEvent.objects.filter(agency=personas.riverside).count() == riverside_events


def _tamper(sql: str, params: list) -> None:
    """Change a row behind the application's back (the guard triggers switched off)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER audit_append_only")
        cursor.execute(sql, params)


def test_verify_finds_the_first_changed_event(personas):
    events = [record(personas.tara, personas.riverside, f"test.{n}", None, None) for n in range(5)]
    assert verify_agency(personas.riverside.pk)[1] == []
    _tamper(
        "UPDATE audit_auditevent SET detail = %s WHERE id = %s", ['{"total": 40}', events[2].pk]
    )
    checked, [broken] = verify_agency(personas.riverside.pk)
    assert (broken.lane, broken.seq) == (events[2].lane, events[2].seq)
    assert "changed" in broken.reason
    earlier_lanes = AuditEvent.objects.filter(agency=personas.riverside, lane__lt=broken.lane)
    assert checked == earlier_lanes.count() + events[2].seq - 1


def test_verify_finds_a_removed_event(personas):
    events = [record(personas.tara, personas.riverside, f"test.{n}", None, None) for n in range(4)]
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    [broken] = verify_agency(personas.riverside.pk)[1]
    assert broken.seq == events[1].seq and "missing" in broken.reason


def test_verify_finds_a_rehashed_event_that_no_longer_links(personas):
    events = [record(personas.tara, personas.riverside, f"test.{n}", None, None) for n in range(3)]
    forged = AuditEvent.objects.get(pk=events[1].pk)
    forged.action = "forged"
    forged.hash = forged.compute_hash()  # a consistent row, but the next one points elsewhere
    _tamper(
        "UPDATE audit_auditevent SET action = %s, hash = %s WHERE id = %s",
        [forged.action, forged.hash, forged.pk],
    )
    [broken] = verify_agency(personas.riverside.pk)[1]
    assert broken.seq == events[2].seq and "previous" in broken.reason


def test_the_verify_command_reports_the_first_broken_link(personas, capsys):
    events = [record(personas.tara, personas.riverside, f"test.{n}", None, None) for n in range(3)]
    call_command("verify_audit")
    assert "audit trail intact" in capsys.readouterr().out
    _tamper("UPDATE audit_auditevent SET ip_address = '6.6.6.6' WHERE id = %s", [events[0].pk])
    with pytest.raises(CommandError):
        call_command("verify_audit")
    assert f"chain broken at event {events[0].seq}" in capsys.readouterr().err
    assert verify()[1][0].agency_id == personas.riverside.pk


def test_opening_a_client_page_and_a_session_page_is_recorded_with_the_address(
    personas, tara_session
):
    browser = logged_in(personas.tara)
    client = personas.tara_client
    assert (
        browser.get(
            reverse("client", kwargs={"public_id": client.public_id}), REMOTE_ADDR="10.9.8.7"
        ).status_code
        == 200
    )
    viewed = AuditEvent.objects.get(action="client.viewed")
    assert (viewed.actor, viewed.target_id, viewed.ip_address) == (
        personas.tara,
        client.public_id,
        "10.9.8.7",
    )
    url = reverse("session", kwargs={"public_id": client.public_id, "number": tara_session.number})
    assert browser.get(url).status_code == 200
    assert AuditEvent.objects.get(action="session.viewed").target_id == tara_session.public_id


def test_a_client_page_that_is_not_visible_is_not_recorded_as_viewed(personas):
    browser = logged_in(personas.oscar)
    url = reverse("client", kwargs={"public_id": personas.tara_client.public_id})
    assert browser.get(url).status_code == 404
    assert not AuditEvent.objects.filter(action="client.viewed").exists()


def test_writes_go_to_the_chain_in_the_same_transaction(personas, tara_session):
    lane = lane_for(personas.tara.pk, "")
    before = AuditEvent.objects.filter(agency=personas.riverside, lane=lane).count()
    services.record_administration(
        personas.tara,
        tara_session,
        instrument="ors",
        idempotency_key="k1",
        items={"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5},
    )
    event = AuditEvent.objects.get(action="administration.recorded")
    # The first rating of a started session also marks it attended (its own event, just before).
    attended = AuditEvent.objects.get(action="session.attendance")
    assert (attended.lane, attended.seq) == (lane, before + 1)
    assert (event.lane, event.seq) == (lane, before + 2) and event.detail["total"] == 20
    assert verify_agency(personas.riverside.pk)[1] == []


def test_an_agency_admin_sees_only_the_events_of_their_agency(personas):
    record(personas.oscar, personas.hillside, "hillside.secret", None, None)
    record(personas.tara, personas.riverside, "riverside.thing", None, None)
    page = logged_in(personas.alice).get(reverse("audit:list")).content.decode()
    assert "riverside.thing" in page and "hillside.secret" not in page


def test_the_audit_pages_are_for_agency_admins_only(personas):
    for user in (personas.tara, personas.sam):
        browser = logged_in(user)
        assert browser.get(reverse("audit:list")).status_code == 403
        assert browser.get(reverse("audit:export")).status_code == 403
    anonymous = logged_in(personas.alice)
    anonymous.logout()
    assert anonymous.get(reverse("audit:list")).status_code == 302


def test_the_admin_can_check_the_chain_from_the_page(personas):
    record(personas.tara, personas.riverside, "x", None, None)
    page = logged_in(personas.alice).get(reverse("audit:list") + "?verify=1").content.decode()
    assert "The chain is intact" in page


def test_the_export_is_a_csv_of_the_filtered_events_and_is_itself_recorded(personas):
    record(personas.tara, personas.riverside, "client.viewed", personas.tara_client, "10.0.0.5")
    record(personas.tara, personas.riverside, "=HYPERLINK(evil)", None, None)
    response = logged_in(personas.alice).get(reverse("audit:export") + "?action=client.viewed")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:5] == ["lane", "seq", "at", "actor", "action"]
    assert [row[4] for row in rows[1:]] == ["client.viewed"]
    assert rows[1][6] == personas.tara_client.public_id and rows[1][7] == "10.0.0.5"
    everything = logged_in(personas.alice).get(reverse("audit:export")).content.decode()
    assert "'=HYPERLINK(evil)" in everything  # no formula injection into spreadsheets
    assert (
        AuditEvent.objects.filter(action="audit.exported", agency=personas.riverside).count() == 2
    )


def test_reads_through_the_api_are_recorded_with_the_token_user(personas):
    from alliance.api.services import create_token

    secret = create_token(personas.tara, scope="read").secret
    url = f"/api/v1/clients/{personas.tara_client.public_id}"
    browser = logged_in(personas.tara)
    browser.logout()
    response = browser.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}", REMOTE_ADDR="10.4.4.4")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="api.read.clients")
    assert (event.actor, event.target_id, event.ip_address) == (
        personas.tara,
        personas.tara_client.public_id,
        "10.4.4.4",
    )
    listing = browser.get("/api/v1/administrations", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert listing.status_code == 200
    assert AuditEvent.objects.filter(action="api.read.administrations").count() == 1
    other = browser.get(
        f"/api/v1/clients/{personas.oscar_client.public_id}", HTTP_AUTHORIZATION=f"Bearer {secret}"
    )
    assert other.status_code == 404
    assert AuditEvent.objects.filter(action__startswith="api.read").count() == 2


def test_events_appended_together_follow_each_other_in_their_lanes_in_order(personas):
    from alliance.audit.models import AuditHead
    from alliance.audit.services import record_many

    before = record(personas.tara, personas.riverside, "test.before", None, None)
    events = record_many(
        personas.tara,
        personas.riverside,
        [("test.a", personas.tara_client, {"n": 1}), ("test.b", None, None), ("test.c", None, {})],
        "10.0.0.9",
    )
    assert [e.seq for e in events] == [before.seq + 1, before.seq + 2, before.seq + 3]
    assert [e.prev_hash for e in events] == [before.hash, events[0].hash, events[1].hash]
    stored = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("seq")
    assert [(e.action, e.hash, e.ip_address) for e in stored] == [
        (e.action, e.hash, "10.0.0.9") for e in events
    ]
    head = AuditHead.objects.get(agency=personas.riverside, lane=before.lane)
    assert (head.count, head.last_hash) == (events[-1].seq, events[-1].hash)
    # Without a signed-in actor the events go by their targets, each lane linked on its own.
    anonymous = record_many(
        None,
        personas.riverside,
        [("test.x", ("session", "a"), None), ("test.y", ("session", "b"), None)],
    )
    assert [e.lane for e in anonymous] == [lane_for(None, "a"), lane_for(None, "b")]
    assert verify_agency(personas.riverside.pk)[1] == []


def test_a_lane_whose_head_is_missing_continues_from_its_last_event(personas):
    from alliance.audit.models import AuditHead

    first = record(personas.theo, personas.riverside, "test.one", None, None)
    AuditHead.objects.filter(agency=personas.riverside, lane=first.lane).delete()
    assert verify_agency(personas.riverside.pk)[1] != []  # the removal is seen
    second = record(personas.theo, personas.riverside, "test.two", None, None)
    assert (second.seq, second.prev_hash) == (first.seq + 1, first.hash)
    assert verify_agency(personas.riverside.pk)[1] == []


def test_many_ratings_of_several_users_leave_every_chain_verifiable(personas):
    for user, client in (
        (personas.tara, personas.tara_client),
        (personas.theo, personas.theo_client),
    ):
        for week in range(6):
            session = services.start_session(user, client, on=START + timedelta(days=7 * week))
            for code, total in (("ors", 20), ("srs", 36)):
                services.record_administration(
                    user, session, instrument=code, idempotency_key=f"{user}-{week}-{code}",
                    total=total,
                )  # fmt: skip
    checked, broken = verify_agency(personas.riverside.pk)
    assert broken == [] and checked == AuditEvent.objects.filter(agency=personas.riverside).count()
    recorded = AuditEvent.objects.filter(action="administration.recorded")
    attended = AuditEvent.objects.filter(action="session.attendance")
    # Each session was only started: its first rating made it attended (audited with it).
    assert recorded.count() == 24 and attended.count() == 12
