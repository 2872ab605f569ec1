"""The audit trail catches truncation (signed lane heads), reports every broken lane, and says how
to keep the evidence; reads of the group page are on it too (issue 11, section 3)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as Browser
from django.urls import reverse

from alliance.audit.models import AuditEvent, AuditHead, sign_head
from alliance.audit.services import lane_for, record, redact, verify, verify_agency
from alliance.cli import main as cli_main
from alliance.feedback.models import Group, GroupMember


def _tamper(sql: str, params: list) -> None:
    """Change rows behind the application's back (the guard triggers switched off)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_append_only")
        cursor.execute(sql, params)


def _events(user, agency, n: int) -> list[AuditEvent]:
    return [record(user, agency, f"test.{i}", None, None) for i in range(n)]


def test_removing_the_last_events_of_a_lane_is_caught_by_its_signed_head(personas):
    events = _events(personas.tara, personas.riverside, 4)
    assert verify_agency(personas.riverside.pk)[1] == []
    _tamper("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [events[2].pk, events[3].pk])
    checked, [broken] = verify_agency(personas.riverside.pk)
    assert broken.lane == events[0].lane and "removed from the end" in broken.reason
    assert broken.seq == events[2].seq


def test_removing_a_whole_lane_is_caught(personas):
    events = _events(personas.theo, personas.riverside, 2)
    _tamper("DELETE FROM audit_auditevent WHERE lane = %s", [events[0].lane])
    [broken] = verify_agency(personas.riverside.pk)[1]
    assert broken.lane == events[0].lane and "removed" in broken.reason


def test_a_head_rewritten_without_the_key_is_caught(personas, settings):
    events = _events(personas.tara, personas.riverside, 3)
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    # The forger moves the head back but signs with a guessed key.
    settings.ALLIANCE_AUDIT_KEY = "guessed"
    forged = sign_head(personas.riverside.pk, events[0].lane, 2, events[1].hash)
    settings.ALLIANCE_AUDIT_KEY = ""
    AuditHead.objects.filter(agency=personas.riverside, lane=events[0].lane).update(
        count=2, last_hash=events[1].hash, signature=forged
    )
    [broken] = verify_agency(personas.riverside.pk)[1]
    assert "signature" in broken.reason


def test_verify_reports_every_broken_lane_not_only_the_first(personas):
    tara = _events(personas.tara, personas.riverside, 3)
    theo = _events(personas.theo, personas.riverside, 3)
    alice = _events(personas.alice, personas.riverside, 2)
    assert len({tara[0].lane, theo[0].lane, alice[0].lane}) == 3
    _tamper("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [tara[1].pk])
    _tamper("DELETE FROM audit_auditevent WHERE id = %s", [theo[2].pk])
    checked, broken = verify()
    assert {b.lane for b in broken} == {tara[0].lane, theo[0].lane}
    assert checked == AuditEvent.objects.count() - 2  # every good event of every lane


def test_the_verify_command_names_every_broken_lane_and_how_to_keep_the_evidence(personas, capsys):
    tara = _events(personas.tara, personas.riverside, 2)
    theo = _events(personas.theo, personas.riverside, 2)
    assert cli_main(["audit", "verify"]) == 0
    _tamper("DELETE FROM audit_auditevent WHERE id IN (%s, %s)", [tara[1].pk, theo[1].pk])
    assert cli_main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"lane {tara[0].lane}" in err and f"lane {theo[0].lane}" in err
    assert "alliance backup -o" in err and "export.csv" in err


def test_redacting_details_keeps_the_chain_and_the_heads_verifiable(personas):
    event = record(personas.tara, personas.riverside, "test", None, None, {"total": 31.5})
    _events(personas.tara, personas.riverside, 2)
    assert redact(personas.riverside.pk, [event]) == 1
    assert AuditEvent.objects.get(pk=event.pk).detail == {"redacted": {}}
    assert verify_agency(personas.riverside.pk)[1] == []
    # A detail changed any other way is still caught (its digest no longer matches).
    later = AuditEvent.objects.filter(lane=event.lane, seq=event.seq + 1).get()
    _tamper("UPDATE audit_auditevent SET detail = %s WHERE id = %s", ['{"x": 1}', later.pk])
    [broken] = verify_agency(personas.riverside.pk)[1]
    assert broken.seq == later.seq and "details were changed" in broken.reason


def test_the_database_allows_no_update_but_a_redaction_of_the_details(personas):
    from django.db import DatabaseError, transaction

    event = record(personas.tara, personas.riverside, "test", None, None, {"total": 3})
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET detail = %s, action = 'x' WHERE id = %s",
            ['{"redacted": {}}', event.pk],
        )
    assert AuditEvent.objects.get(pk=event.pk).action == "test"


def test_opening_the_group_page_is_recorded(personas):
    group = Group.objects.create(agency=personas.riverside, name="Tue", leader=personas.tara)
    GroupMember.objects.create(agency=personas.riverside, group=group, client=personas.tara_client)
    browser = Browser()
    browser.force_login(personas.tara)
    response = browser.get(
        reverse("feedback:group", args=[group.public_id]), REMOTE_ADDR="10.4.4.4"
    )
    assert response.status_code == 200
    viewed = AuditEvent.objects.get(action="group.viewed")
    assert (viewed.actor, viewed.target_id, viewed.ip_address) == (
        personas.tara,
        group.public_id,
        "10.4.4.4",
    )
    assert viewed.lane == lane_for(personas.tara.pk, "")
