"""The audit trail now lives in alliance.audit (hash-chained); its events were copied there."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("care", "0001_initial"),
        ("audit", "0002_copy_care_audit_events"),
    ]

    operations = [migrations.DeleteModel(name="AuditEvent")]
