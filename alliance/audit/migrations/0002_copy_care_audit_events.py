"""Carry the events of the old care.AuditEvent over into the hash-chained trail, in order."""

import hashlib

from django.db import migrations

from alliance.audit.models import GENESIS, canonical_bytes


def copy_events(apps, schema_editor):
    Old = apps.get_model("care", "AuditEvent")
    New = apps.get_model("audit", "AuditEvent")
    User = apps.get_model("accounts", "User")
    names = dict(User.objects.values_list("pk", "username"))
    heads: dict[int, tuple[int, str]] = {}
    batch = []
    for old in Old.objects.order_by("at", "pk").iterator():
        seq, prev = heads.get(old.agency_id, (0, GENESIS))
        event = New(
            agency_id=old.agency_id,
            seq=seq + 1,
            actor_id=old.actor_id,
            actor_name=names.get(old.actor_id, ""),
            action=old.action,
            target_type=old.target_type,
            target_id=old.target_id,
            detail=old.detail or {},
            ip_address=old.ip_address,
            at=old.at.replace(microsecond=old.at.microsecond // 1000 * 1000),
            prev_hash=prev,
        )
        event.hash = hashlib.sha256(
            canonical_bytes(
                agency=event.agency_id,
                seq=event.seq,
                actor=event.actor_id,
                actor_name=event.actor_name,
                action=event.action,
                target_type=event.target_type,
                target_id=event.target_id,
                detail=event.detail,
                ip=event.ip_address,
                at=event.at,
                prev=event.prev_hash,
            )
        ).hexdigest()
        heads[old.agency_id] = (event.seq, event.hash)
        batch.append(event)
        if len(batch) >= 1000:
            New.objects.bulk_create(batch)
            batch = []
    New.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_audit_trail"),
        ("care", "0001_initial"),
    ]

    operations = [migrations.RunPython(copy_events, migrations.RunPython.noop)]
