"""Secrets the server reads back are sealed at rest (alliance/accounts/sealing.py): the
two-factor seed, the webhook signing key and the research-export key. A copy of the database or
of a backup alone shows none of them; the key can be rotated; another key is refused clearly."""

from __future__ import annotations

import io
import json

import pyotp
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from alliance.accounts.models import TwoFactorDevice
from alliance.accounts.sealing import SealedWithAnotherKey, reseal_all
from alliance.accounts.security import check_code, start_enrolment
from alliance.api.models import WebhookEndpoint
from alliance.api.webhooks import new_secret
from alliance.reports.exports import Deidentifier
from alliance.reports.models import AgencySecret

OLD_KEY = "an-old-secret-key-" + "x" * 40
NEW_KEY = "a-new-secret-key-" + "y" * 40


def stored(model, pk: int) -> str:
    """The column's text as the database holds it."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def endpoint_of(agency) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        agency=agency,
        url="https://ehr.example.org/hook",
        events=["alert.raised"],
        secret=new_secret(),
    )


def test_it_stores_the_two_factor_seed_sealed_and_still_accepts_its_codes(personas):
    device = start_enrolment(personas.tara)
    seed = device.secret
    column = stored(TwoFactorDevice, device.pk)
    assert seed not in column and column.startswith("gAAAAA")
    device = TwoFactorDevice.objects.get(pk=device.pk)
    assert device.secret == seed
    assert check_code(device, pyotp.TOTP(seed).now())


def test_it_seals_each_value_with_its_own_iv(personas):
    endpoint = endpoint_of(personas.riverside)
    column = stored(WebhookEndpoint, endpoint.pk)
    endpoint.save()
    assert stored(WebhookEndpoint, endpoint.pk) != column
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_it_stores_the_webhook_and_export_keys_sealed(personas):
    endpoint = endpoint_of(personas.riverside)
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret not in stored(WebhookEndpoint, endpoint.pk)
    Deidentifier.for_agency(personas.riverside)
    export = AgencySecret.objects.get(agency=personas.riverside)
    assert len(export.secret) == 64
    assert export.secret not in stored(AgencySecret, export.pk)


def test_a_backup_holds_the_sealed_text_and_loads_back_in_the_clear(personas, tmp_path):
    device = start_enrolment(personas.tara)
    out = io.StringIO()
    call_command("dumpdata", "accounts.TwoFactorDevice", format="json", stdout=out)
    assert device.secret not in out.getvalue()
    [row] = json.loads(out.getvalue())
    assert row["fields"]["secret"].startswith("gAAAAA")
    TwoFactorDevice.objects.all().delete()
    backup = tmp_path / "backup.json"
    backup.write_text(out.getvalue())
    call_command("loaddata", str(backup), verbosity=0)
    assert TwoFactorDevice.objects.get(pk=device.pk).secret == device.secret


def test_a_rotated_secret_key_reads_old_values_until_reseal_moves_them(personas, settings):
    settings.SECRET_KEY, settings.ALLIANCE_AUDIT_KEY = OLD_KEY, ""
    device = start_enrolment(personas.tara)
    endpoint = endpoint_of(personas.riverside)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert TwoFactorDevice.objects.get(pk=device.pk).secret == device.secret
    counts = reseal_all()
    assert counts["accounts.TwoFactorDevice"] == 1
    assert counts["api.WebhookEndpoint"] == 1
    settings.SECRET_KEY_FALLBACKS = []
    assert TwoFactorDevice.objects.get(pk=device.pk).secret == device.secret
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_a_server_with_another_key_refuses_to_read_and_says_why(personas, settings):
    device = start_enrolment(personas.tara)
    settings.SECRET_KEY, settings.ALLIANCE_AUDIT_KEY = NEW_KEY, ""
    with pytest.raises(SealedWithAnotherKey, match="ALLIANCE_AUDIT_KEY"):
        TwoFactorDevice.objects.get(pk=device.pk)


def test_the_audit_key_seals_when_it_is_set(personas, settings):
    settings.ALLIANCE_AUDIT_KEY = "an-audit-key-" + "z" * 40
    device = start_enrolment(personas.tara)
    settings.ALLIANCE_AUDIT_KEY = ""
    with pytest.raises(SealedWithAnotherKey):
        TwoFactorDevice.objects.get(pk=device.pk)


BEFORE = [("accounts", "0008_invitation")]
AFTER = [("accounts", "0009_seal_two_factor_secrets")]


# Migrations need real commits (SQLite's schema editor refuses to run inside a test transaction).
@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_the_seeds_stored_in_the_clear_and_reverses():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        agency = old.get_model("accounts", "Agency").objects.create(name="Riverside")
        user = old.get_model("accounts", "User").objects.create(username="tara")
        device = old.get_model("accounts", "TwoFactorDevice").objects.create(
            agency=agency, user=user, secret="JBSWY3DPEHPK3PXP"
        )
        MigrationExecutor(connection).migrate(AFTER)
        assert stored(TwoFactorDevice, device.pk).startswith("gAAAAA")
        assert TwoFactorDevice.objects.get(pk=device.pk).secret == "JBSWY3DPEHPK3PXP"
        MigrationExecutor(connection).migrate(BEFORE)
        assert stored(TwoFactorDevice, device.pk) == "JBSWY3DPEHPK3PXP"
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
