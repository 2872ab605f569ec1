"""The API never replaces a rating silently, keeps a total's items empty, and sets no system mode."""

from __future__ import annotations

from alliance.audit.models import AuditEvent
from alliance.care.models import Administration


def _session(api, client) -> str:
    response = api.post("/sessions", {"client": client.public_id})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_a_second_rating_of_the_same_form_is_a_conflict_and_patch_is_the_edit(personas, api_as):
    api = api_as(personas.tara)
    session = _session(api, personas.tara_client)
    body = {"session": session, "instrument": "ors", "total": 22, "entry_mode": "paper"}
    first = api.post("/administrations", {**body, "idempotency_key": "one"})
    assert first.status_code == 201
    assert (first.json()["items"], first.json()["total_only"]) == ({}, True)
    second = api.post("/administrations", {**body, "total": 30, "idempotency_key": "two"})
    assert second.status_code == 409 and "already filled in" in second.json()["message"]
    assert Administration.objects.get().total == 22
    patched = api.patch(f"/administrations/{first.json()['id']}", {"total": 30})
    assert patched.status_code == 200 and patched.json()["total"] == 30
    assert AuditEvent.objects.filter(action="administration.edited").count() == 1


def test_the_system_entry_modes_cannot_be_sent(personas, api_as):
    api = api_as(personas.tara)
    session = _session(api, personas.tara_client)
    for mode in ("link", "import"):
        body = {"session": session, "instrument": "ors", "total": 22, "entry_mode": mode}
        response = api.post("/administrations", {**body, "idempotency_key": mode})
        assert response.status_code == 422
    assert not Administration.objects.exists()
