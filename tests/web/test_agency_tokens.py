"""API tokens in the app: created with the secret shown once, listed with last use, revoked with
a confirmation; who may do what, and the API honouring each step."""

from __future__ import annotations

import datetime
import json
import re
import time

import pytest
from django.test import Client as Browser
from django.urls import reverse

from alliance.agency.tokens import NEW_SECRET, NEW_SECRET_WAITS_SECONDS
from alliance.api.models import ApiToken, TokenKind
from alliance.api.services import allowed_scopes, create_token, touch
from alliance.audit.models import AuditEvent
from alliance.care.services import ServiceError

NEW = reverse("agency:token_new")
CREATED = reverse("agency:token_created")
LIST = reverse("agency:tokens")


def signed_in(user) -> Browser:
    browser = Browser()
    browser.force_login(user)
    return browser


def form_key(browser: Browser) -> str:
    page = browser.get(NEW).content.decode()
    return re.search(r'name="form_key" value="([^"]+)"', page).group(1)


def create(browser: Browser, **fields: str):
    data = {"name": "EHR", "kind": "personal", "scope": "read", "expires_days": "30"}
    if "form_key" not in fields:
        data["form_key"] = form_key(browser)
    return browser.post(NEW, {**data, **fields})


def secret_on(page: str) -> str:
    return re.search(r'id="token-secret"[^>]*value="(alc_[^"]+)"', page).group(1)


def api_status(secret: str) -> int:
    return Browser().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code


def test_a_therapist_creates_a_token_whose_secret_is_shown_once_and_never_in_a_url(personas):
    browser = signed_in(personas.tara)
    response = create(browser, name="My scripts")
    assert response.status_code == 302 and response["Location"] == CREATED
    page = browser.get(CREATED)
    secret = secret_on(page.content.decode())
    assert page["Cache-Control"] == "no-store"
    assert api_status(secret) == 200
    token = ApiToken.objects.get()
    assert (token.user, token.kind, token.scope, token.name) == (
        personas.tara,
        TokenKind.PERSONAL,
        "read",
        "My scripts",
    )
    assert secret not in response["Location"]
    # The second look finds nothing: the secret was shown once.
    again = browser.get(CREATED)
    assert again.status_code == 302 and again["Location"] == LIST
    listing = browser.get(LIST).content.decode()
    assert token.prefix in listing and secret not in listing
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1


def test_a_resubmitted_create_form_stores_one_token(personas):
    browser = signed_in(personas.tara)
    key = form_key(browser)
    assert create(browser, form_key=key).status_code == 302
    repeat = create(browser, form_key=key)
    assert repeat.status_code == 302 and repeat["Location"] == LIST
    assert ApiToken.objects.count() == 1
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1


def test_the_list_shows_when_a_token_was_last_used(personas):
    browser = signed_in(personas.tara)
    create(browser)
    secret = secret_on(browser.get(CREATED).content.decode())
    assert "not yet" in browser.get(LIST).content.decode()
    assert api_status(secret) == 200
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    assert "not yet" not in browser.get(LIST).content.decode()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": ""}, "Give the token a name"),
        ({"name": "x" * 101}, "too long"),
        ({"scope": "admin"}, "Choose what the token may do"),
        ({"expires_days": "9999"}, "Choose when the token expires"),
        ({"kind": "root"}, "Choose what kind of token"),
        ({"form_key": ""}, "The form has expired"),
    ],
)
def test_it_refuses_a_bad_create_form_with_a_message_and_stores_nothing(personas, fields, message):
    response = create(signed_in(personas.tara), **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_therapist_cannot_create_an_integration_token(personas):
    browser = signed_in(personas.tara)
    assert "integration" not in browser.get(NEW).content.decode()
    response = create(browser, kind="integration")
    assert response.status_code == 400
    assert not ApiToken.objects.exists()
    assert allowed_scopes(personas.tara, TokenKind.INTEGRATION) == []
    with pytest.raises(ServiceError):
        create_token(personas.tara, kind=TokenKind.INTEGRATION)


def test_an_admin_creates_an_integration_token_the_api_honours(personas):
    browser = signed_in(personas.alice)
    create(browser, kind="integration", scope="write", name="Records system")
    secret = secret_on(browser.get(CREATED).content.decode())
    assert ApiToken.objects.get().kind == TokenKind.INTEGRATION
    assert api_status(secret) == 200


def test_a_revoked_token_is_refused_by_the_api(personas):
    new = create_token(personas.tara, name="old")
    browser = signed_in(personas.tara)
    url = reverse("agency:token_revoke", args=[new.token.prefix])
    assert browser.get(url).status_code == 200  # the confirmation
    unconfirmed = browser.post(url, {})
    assert unconfirmed.status_code == 400
    assert api_status(new.secret) == 200
    assert browser.post(url, {"confirm": "yes"}).status_code == 302
    assert api_status(new.secret) == 401
    assert browser.post(url, {"confirm": "yes"}).status_code == 302  # twice: stored once
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_another_therapist_cannot_see_or_revoke_a_colleagues_token(personas):
    new = create_token(personas.tara, name="tara's")
    browser = signed_in(personas.theo)
    assert new.token.prefix not in browser.get(LIST).content.decode()
    url = reverse("agency:token_revoke", args=[new.token.prefix])
    assert browser.post(url, {"confirm": "yes"}).status_code == 404
    assert api_status(new.secret) == 200


def test_the_agency_admin_revokes_a_members_token_but_not_another_agencys(personas):
    new = create_token(personas.tara, name="tara's")
    url = reverse("agency:token_revoke", args=[new.token.prefix])
    assert signed_in(personas.olga).post(url, {"confirm": "yes"}).status_code == 404
    assert api_status(new.secret) == 200
    alice = signed_in(personas.alice)
    assert new.token.prefix in alice.get(LIST).content.decode()
    assert alice.post(url, {"confirm": "yes"}).status_code == 302
    assert api_status(new.secret) == 401
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.actor == personas.alice


def test_a_created_page_never_shows_another_users_secret(personas):
    """The secret waits in the creator's own session only."""
    tara = signed_in(personas.tara)
    create(tara)
    assert signed_in(personas.theo).get(CREATED).status_code == 302
    assert secret_on(tara.get(CREATED).content.decode()).startswith("alc_")


def test_the_last_use_is_written_at_most_once_a_minute_per_token(
    personas, django_assert_num_queries
):
    token = create_token(personas.tara).token
    now = token.created_at
    touch(token, now)
    with django_assert_num_queries(0):
        touch(token, now + datetime.timedelta(seconds=59))
    assert ApiToken.objects.get().last_used_at == now
    with django_assert_num_queries(1):
        touch(token, now + datetime.timedelta(seconds=61))
    assert ApiToken.objects.get().last_used_at == now + datetime.timedelta(seconds=61)


def test_a_deactivated_user_gets_no_scope_and_their_token_is_refused(personas):
    new = create_token(personas.tara)
    personas.tara.is_active = False
    personas.tara.save(update_fields=["is_active"])
    assert allowed_scopes(personas.tara, TokenKind.PERSONAL) == []
    assert api_status(new.secret) == 401


def test_the_waiting_secret_is_sealed_in_the_session(personas):
    tara = signed_in(personas.tara)
    create(tara)
    waiting = tara.session[NEW_SECRET]
    assert "alc_" not in json.dumps(waiting)
    assert secret_on(tara.get(CREATED).content.decode()).startswith("alc_")


def test_a_secret_not_shown_within_ten_minutes_is_dropped_with_a_message(personas, monkeypatch):
    tara = signed_in(personas.tara)
    create(tara)
    later = time.time() + NEW_SECRET_WAITS_SECONDS + 1
    monkeypatch.setattr("alliance.agency.tokens.time.time", lambda: later)
    response = tara.get(CREATED, follow=True)
    page = response.content.decode()
    assert "no longer shown" in page
    assert 'id="token-secret"' not in page
    assert NEW_SECRET not in tara.session
