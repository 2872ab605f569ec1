"""An agency that keeps pseudonymous codes only gets no client names by any path (issue 11)."""

from __future__ import annotations

import pytest

from alliance.api.imports import import_table, read_csv
from alliance.care import services
from alliance.care.models import Client

CSV = (
    "client_id,client_name,episode_id,therapist_id,session_number,session_date,instrument,rater,"
    "total,age_band\n"
    "N-1,Jane Doe,E-N1,tara,1,2025-01-06,ors,client,20,adult\n"
)


def test_the_api_cannot_give_a_client_a_name_when_the_agency_keeps_codes_only(personas):
    assert not personas.riverside.allow_client_names
    with pytest.raises(services.ServiceError, match="pseudonymous codes only"):
        services.update_client(personas.tara, personas.tara_client, name="Jane Doe")
    personas.tara_client.refresh_from_db()
    assert personas.tara_client.name == ""
    # Clearing a name (or an agency that allows them) still works.
    services.update_client(personas.tara, personas.tara_client, name="  ")
    personas.riverside.allow_client_names = True
    personas.riverside.save()
    personas.tara_client.refresh_from_db()
    services.update_client(personas.tara, personas.tara_client, name="Jane")
    personas.tara_client.refresh_from_db()
    assert personas.tara_client.name == "Jane"


def test_an_import_with_client_names_is_refused_when_the_agency_keeps_codes_only(personas):
    report = import_table(personas.alice, personas.riverside, read_csv(CSV), dry_run=False)
    assert not report.ok and not report.committed
    assert any(problem["column"] == "client_name" for problem in report.to_dict()["errors"])
    assert not Client.objects.filter(display_code="N-1").exists()
    personas.riverside.allow_client_names = True
    personas.riverside.save()
    allowed = import_table(personas.alice, personas.riverside, read_csv(CSV), dry_run=False)
    assert allowed.ok, allowed.to_dict()
    assert Client.objects.get(display_code="N-1").name == "Jane Doe"
