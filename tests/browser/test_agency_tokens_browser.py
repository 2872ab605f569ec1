"""In Chromium: an API token is created on its page, the live API honours the secret read from
the page, the token is revoked on its page and the API then refuses it; an admin merges a
duplicate client code and undoes it. Screenshots for docs/administration.md."""

from __future__ import annotations

import datetime
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import Page, expect

from alliance.api.models import ApiToken
from alliance.care import services
from alliance.care.models import Administration, Client
from tests.browser.helpers import log_in, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_status(base_url: str, secret: str) -> int:
    """A real HTTP request to the live server with the bearer secret."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_token_created_in_the_app_works_until_it_is_revoked_in_the_app(
    page: Page, personas, live_server
):
    log_in(page, "tara")
    page.get_by_role("link", name="API tokens").first.click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_role("link", name="New token").click()
    page.get_by_label("Name").fill("My reporting script")
    page.get_by_label("Read and write").check()
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Your new API token")).to_be_visible()
    assert "alc_" not in page.url
    secret = page.get_by_label("Token").input_value()
    assert secret.startswith("alc_")
    page.screenshot(path=screenshot_path("api-token-created.png"))

    assert api_status(live_server.url, secret) == 200
    token = ApiToken.objects.get()
    assert token.scope == "write" and token.last_used_at is not None

    # Shown once: going back to the page does not show it again.
    page.goto("/agency/tokens/created/")
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    assert secret not in page.content()
    row = page.get_by_role("row").filter(has_text="My reporting script")
    expect(row).not_to_contain_text("not yet")  # the last use is listed
    page.screenshot(path=screenshot_path("api-tokens.png"), full_page=True)

    row.get_by_role("link", name="Revoke").click()
    page.get_by_label("Yes, revoke this token").check()
    page.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_role("status").first).to_contain_text("The token is revoked")
    assert api_status(live_server.url, secret) == 401


def test_an_admin_merges_a_duplicate_client_and_undoes_it(page: Page, personas):
    p = personas
    duplicate = services.create_client(
        p.tara, p.riverside, display_code="R-TARA-1-DUP", therapist=p.tara
    )
    session = services.start_session(
        p.tara, duplicate, on=services.today() - datetime.timedelta(days=1)
    )
    services.record_administration(
        p.tara, session, instrument="ors", idempotency_key=uuid.uuid4().hex, total="21"
    )
    ratings = Administration.objects.count()
    log_in(page, "alice")
    page.goto("/agency/")
    page.get_by_role("link", name="Clients: reassign and merge").click()
    page.get_by_label("Client code").fill("R-TARA-1-DUP")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="Merge R-TARA-1-DUP into another").click()
    page.get_by_label("Code of the client to keep").fill("R-TARA-1")
    page.get_by_label("Yes, merge R-TARA-1-DUP into it").check()
    page.get_by_role("button", name="Merge").click()
    expect(page.get_by_role("status").first).to_contain_text("is merged into R-TARA-1")
    assert not Client.objects.filter(display_code="R-TARA-1-DUP").exists()
    assert Administration.objects.count() == ratings
    page.screenshot(path=screenshot_path("agency-clients-merged.png"), full_page=True)

    page.get_by_role("link", name="Undo the merge of R-TARA-1-DUP").click()
    page.get_by_label("Yes, undo this merge").check()
    page.get_by_role("button", name="Undo merge").click()
    expect(page.get_by_role("status").first).to_contain_text("R-TARA-1-DUP is back")
    assert Client.objects.get(display_code="R-TARA-1-DUP").public_id == duplicate.public_id
