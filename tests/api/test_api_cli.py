"""`alliance token create|list|revoke`: the secret is printed once and works as a bearer token."""

from __future__ import annotations

import pytest

from alliance.api.models import ApiToken
from alliance.cli import main
from tests.api.conftest import Api


@pytest.fixture(autouse=True)
def _django_is_already_set_up(monkeypatch):
    # The command sets Django up itself (./var or DATABASE_URL); in tests the test database is.
    monkeypatch.setattr("alliance.cli.token._setup", lambda: None)


def test_token_create_prints_a_working_token_once(personas, capsys):
    assert (
        main(["token", "create", "--user", "tara", "--scope", "write", "--expires-days", "30"]) == 0
    )
    out = capsys.readouterr().out.splitlines()
    raw = out[0]
    token = ApiToken.objects.get()
    assert raw.startswith(f"alc_{token.prefix}_")
    assert "scope write" in out[1] and "expires" in out[1]
    assert (token.scope, token.kind, token.user) == ("write", "personal", personas.tara)
    assert 29 <= (token.expires_at - token.created_at).days <= 30
    assert Api(raw).get("/me").json()["username"] == "tara"


def test_token_list_shows_prefixes_and_revoke_stops_the_token(personas, capsys):
    main(["token", "create", "--user", "alice", "--integration"])
    raw = capsys.readouterr().out.splitlines()[0]
    prefix = ApiToken.objects.get().prefix
    assert main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert prefix in listing and "integration" in listing and raw not in listing
    assert main(["token", "revoke", prefix]) == 0
    assert Api(raw).get("/me").status_code == 401
    assert "revoked" in capsys.readouterr().out


def test_token_create_refuses_unknown_users_and_therapist_integration_tokens(personas, capsys):
    assert main(["token", "create", "--user", "nobody"]) == 2
    assert main(["token", "create", "--user", "tara", "--integration"]) == 2
    assert "agency admin" in capsys.readouterr().err
    assert ApiToken.objects.count() == 0
