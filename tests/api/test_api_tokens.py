"""Bearer tokens: hashed storage, expiry, revocation, scopes, roles and the tenancy matrix."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.utils import timezone

from alliance.accounts.models import Membership, Role
from alliance.api.models import ApiToken
from alliance.api.services import create_token, revoke_token
from alliance.care import services
from alliance.care.services import ServiceError
from tests.api.conftest import Api
from tests.web.personas import START

DAY1 = START + datetime.timedelta(days=1)


def test_it_stores_only_the_sha256_of_a_256_bit_secret_with_a_visible_prefix(personas):
    new = create_token(personas.tara, scope="read")
    lead, prefix, secret = new.secret.split("_", 2)
    assert lead == "alc"
    assert prefix == new.token.prefix and len(prefix) == 8
    assert len(secret) >= 43  # 32 random bytes, base64url
    stored = ApiToken.objects.get()
    assert stored.digest == hashlib.sha256(new.secret.encode()).hexdigest()
    assert secret not in {stored.digest, stored.prefix, stored.name}


def test_it_rejects_a_missing_an_unknown_an_expired_and_a_revoked_token(personas, token_for):
    assert Api(None).get("/clients").status_code == 401
    response = Api("alc_00000000_not-a-real-token").get("/clients")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")

    expired = create_token(personas.tara, expires_days=1)
    ApiToken.objects.filter(pk=expired.token.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert Api(expired.secret).get("/clients").status_code == 401

    revoked = create_token(personas.tara)
    assert Api(revoked.secret).get("/clients").status_code == 200
    revoke_token(revoked.token)
    assert Api(revoked.secret).get("/clients").status_code == 401


def test_it_records_when_a_token_was_last_used(personas, token_for):
    raw = token_for(personas.tara)
    assert ApiToken.objects.get().last_used_at is None
    Api(raw).get("/me")
    assert ApiToken.objects.get().last_used_at is not None


def test_a_read_token_can_read_but_not_write(personas, api_as):
    api = api_as(personas.tara, scope="read")
    assert api.get(f"/clients/{personas.tara_client.public_id}").status_code == 200
    response = api.post("/sessions", {"client": personas.tara_client.public_id})
    assert response.status_code == 403
    assert response.json() == {
        "code": "insufficient_scope",
        "message": "this token is read-only (scope read)",
    }
    response = api.patch(f"/clients/{personas.tara_client.public_id}", {"name": "X"})
    assert response.status_code == 403


def test_only_an_agency_admin_can_own_an_integration_token(personas):
    with pytest.raises(ServiceError):
        create_token(personas.tara, kind="integration")
    create_token(personas.alice, kind="integration")


def test_an_integration_token_stops_working_when_its_admin_is_demoted(personas, token_for):
    raw = token_for(personas.alice, "read", "integration")
    assert Api(raw).get("/clients").json()["count"] == 3
    Membership.objects.filter(user=personas.alice).update(role=Role.THERAPIST)
    assert Api(raw).get("/clients").status_code == 401


def test_a_personal_token_stops_working_when_its_user_is_deactivated(personas, token_for):
    raw = token_for(personas.tara)
    personas.tara.is_active = False
    personas.tara.save()
    assert Api(raw).get("/clients").status_code == 401


# Who sees which client (visibility.py): 200 for visible, 404 otherwise, across agencies too.
VISIBLE = {
    "alice": {"tara_client", "theo_client", "shared_client"},
    "sam": {"tara_client"},
    "tara": {"tara_client", "shared_client"},
    "theo": {"theo_client", "shared_client"},
    "olga": {"oscar_client"},
    "oscar": {"oscar_client"},
}
CLIENTS = ("tara_client", "theo_client", "shared_client", "oscar_client")


@pytest.mark.parametrize("scope", ["read", "write"])
@pytest.mark.parametrize("username", sorted(VISIBLE))
def test_the_token_and_scope_matrix_answers_404_for_clients_out_of_reach(
    personas, api_as, username, scope
):
    api = api_as(getattr(personas, username), scope=scope)
    for name in CLIENTS:
        client = getattr(personas, name)
        episode = client.episodes.get()
        expected = 200 if name in VISIBLE[username] else 404
        assert api.get(f"/clients/{client.public_id}").status_code == expected, name
        assert api.get(f"/episodes/{episode.public_id}").status_code == expected, name
        assert api.get(f"/episodes/{episode.public_id}/signals").status_code == expected, name
        write = api.post("/sessions", {"client": client.public_id, "date": DAY1.isoformat()})
        if scope == "read":  # refused before any lookup: says nothing about the client
            assert write.status_code == 403, name
        elif expected == 404:
            assert write.status_code == 404, name
            assert write.json()["code"] == "not_found"
        else:
            assert write.status_code == 201, name
    listed = {c["display_code"] for c in api.get("/clients").json()["items"]}
    assert listed == {getattr(personas, name).display_code for name in VISIBLE[username]}


def test_sessions_and_administrations_of_another_agency_are_404_for_every_method(personas, api_as):
    session = services.start_session(personas.oscar, personas.oscar_client, on=DAY1)
    result = services.record_administration(
        personas.oscar, session, instrument="ors", idempotency_key="oscar-1", total=20
    )
    administration = result.administration.public_id
    api = api_as(personas.alice)  # an admin, with a write token, of the other agency
    assert api.get(f"/sessions/{session.public_id}").status_code == 404
    assert api.patch(f"/sessions/{session.public_id}", {"attendance": "no_show"}).status_code == 404
    assert api.get(f"/administrations/{administration}").status_code == 404
    assert api.patch(f"/administrations/{administration}", {"total": 30}).status_code == 404
    assert api.delete(f"/administrations/{administration}").status_code == 404
    response = api.post(
        "/administrations",
        {
            "session": session.public_id,
            "instrument": "ors",
            "idempotency_key": "x" * 10,
            "total": 5,
        },
    )
    assert response.status_code == 404
    assert api.get("/administrations").json()["count"] == 0
    assert api_as(personas.oscar).get("/administrations").json()["count"] == 1


def test_webhooks_and_imports_are_for_agency_admins(personas, api_as):
    tara = api_as(personas.tara)
    response = tara.get("/webhooks")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert tara.upload("/imports", b"client_id\n").status_code == 403
    assert api_as(personas.alice).get("/webhooks").status_code == 200


def test_a_therapist_creates_only_their_own_clients(personas, api_as):
    api = api_as(personas.tara)
    response = api.post("/clients", {"display_code": "R-NEW-1", "therapist": "theo"})
    assert response.status_code == 403
    response = api.post("/clients", {"display_code": "R-NEW-1"})
    assert response.status_code == 201
    assert response.json()["therapist"] == "tara"
    admin = api_as(personas.alice)
    response = admin.post(
        "/clients", {"display_code": "R-NEW-2", "therapist": "theo", "team": "South"}
    )
    assert response.status_code == 201
    assert (response.json()["therapist"], response.json()["team"]) == ("theo", "South")
    # A therapist of another agency is not a valid choice.
    response = admin.post("/clients", {"display_code": "R-NEW-3", "therapist": "oscar"})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_therapist"
