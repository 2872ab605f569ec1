"""An agency runs its people from the Agency pages in a real browser (issue 13): the admin invites a
therapist, who opens the link from the e-mail, signs up with two-factor, is put on a team, gets a
client, and is deactivated with the client handed over - at desktop and phone width, and without
a single request to the Django admin. The desktop run takes the docs/administration.md
screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from alliance.accounts.models import TeamMembership, User
from alliance.care.models import Client
from tests.browser.fixtures import DESKTOP, TIMEOUT_MS
from tests.browser.helpers import log_in, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": (DESKTOP, False), "phone": (PHONE, True)}
NEW_PASSWORD = "a-long-and-quiet-river-42"


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture
def contexts(browser: Browser, live_server, viewport) -> Iterator[dict]:
    """Two browsers side by side (the admin's, the invitee's), each recording every URL asked."""
    size, touch = VIEWPORTS[viewport]
    visited: list[str] = []
    opened: list[BrowserContext] = []

    def new() -> Page:
        context = browser.new_context(
            base_url=live_server.url, viewport=size, has_touch=touch, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", lambda request: visited.append(request.url))
        opened.append(context)
        return context.new_page()

    yield {"new": new, "visited": visited}
    for context in opened:
        context.close()


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_an_admin_invites_a_therapist_who_signs_up_with_two_factor_works_and_leaves(
    personas, contexts, viewport, mailoutbox
) -> None:
    admin = contexts["new"]()
    log_in(admin, "alice")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Agency").click()
    admin.get_by_role("link", name="People").click()
    expect(admin.get_by_role("heading", name="People", exact=True)).to_be_visible()
    admin.get_by_role("link", name="Invite someone").click()
    admin.get_by_label("E-mail address").fill("nina@example.org")
    admin.get_by_label("Role").select_option("therapist")
    admin.get_by_role("button", name="Send the invitation").click()
    expect(admin.get_by_text("The invitation is on its way.")).to_be_visible()
    expect(admin.get_by_test_id("invitations")).to_contain_text("nina@example.org")
    no_sideways_scroll(admin)

    # The invitee: the link from the e-mail, no account yet.
    assert len(mailoutbox) == 1
    link = re.search(r"https?://\S+/agency/join/\S+/", mailoutbox[0].body)
    assert link, mailoutbox[0].body
    nina = contexts["new"]()
    nina.goto(link.group(0))
    expect(nina.get_by_role("heading", name="Join your agency")).to_be_visible()
    nina.get_by_label("Username").fill("nina")
    nina.get_by_label(re.compile(r"^Password:?$")).fill(NEW_PASSWORD)
    nina.get_by_label("Password confirmation").fill(NEW_PASSWORD)
    nina.get_by_role("button", name="Create my account").click()
    expect(nina.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    secret = nina.get_by_test_id("totp-secret").inner_text()
    nina.get_by_label("Six-digit code from your authenticator app").fill(pyotp.TOTP(secret).now())
    nina.get_by_role("button", name="Confirm").click()
    expect(nina.get_by_test_id("recovery-codes")).to_be_visible()
    nina.get_by_role("link", name="I have kept them: continue").click()
    expect(nina.get_by_role("heading", name="Caseload")).to_be_visible()
    user = User.objects.get(username="nina")
    assert user.membership.role == "therapist" and user.two_factor.confirmed

    # The admin puts her on team North.
    admin.goto("/agency/teams/")
    admin.get_by_role("link", name="North").click()
    admin.get_by_label("Person").select_option(label="nina (Therapist)")
    admin.get_by_role("button", name="Add to the team").click()
    expect(admin.get_by_test_id("team-members")).to_contain_text("nina")
    assert TeamMembership.objects.filter(user=user, team=personas.north).exists()

    # She takes on a client.
    nina.goto("/clients/new/")
    nina.get_by_label("Display code").fill("NINA-1")
    nina.get_by_label("Age band").select_option("adult")
    nina.get_by_role("button", name="Create client").click()
    expect(nina.get_by_role("heading", name="NINA-1")).to_be_visible()
    assert Client.objects.get(display_code="NINA-1").therapist == user

    # She leaves: deactivated, her client handed to tara in the same step.
    admin.goto("/agency/people/")
    admin.get_by_role("link", name="nina", exact=True).click()
    expect(admin.get_by_test_id("person-clients")).to_have_text("1")
    if viewport == "desktop":
        admin.screenshot(path=str(screenshot_path("agency-person.png")), full_page=True)
    admin.get_by_label("Their clients go to").select_option(label="tara (Therapist)")
    admin.get_by_label("Yes, deactivate this person").check()
    admin.get_by_role("button", name="Deactivate and hand over").click()
    expect(admin.get_by_test_id("person-status")).to_have_text("deactivated")
    expect(admin.get_by_text("Clients handed over: 1")).to_be_visible()
    assert Client.objects.get(display_code="NINA-1").therapist == personas.tara
    user.refresh_from_db()
    assert not user.is_active
    no_sideways_scroll(admin)

    # Her open session no longer works.
    nina.goto("/")
    expect(nina).to_have_url(re.compile(r"/login/"))

    admin.goto("/agency/people/")
    if viewport == "desktop":
        admin.screenshot(path=str(screenshot_path("agency-people.png")), full_page=True)
        admin.goto("/agency/teams/")
        admin.screenshot(path=str(screenshot_path("agency-teams.png")), full_page=True)
    no_sideways_scroll(admin)

    admin_urls = [url for url in contexts["visited"] if "/admin/" in url]
    assert admin_urls == []
    assert any("/agency/join/" in url for url in contexts["visited"])
