"""The Policies page in a real browser, on a phone (390 px, touch) and a desktop: an agency admin
previews a retention period, confirms it, switches the kiosk off, and the kiosk then refuses."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from alliance.accounts.models import Agency
from alliance.care import services
from tests.browser.fixtures import TIMEOUT_MS
from tests.browser.helpers import log_in, screenshot_path
from tests.browser.test_feedback_client_forms import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS: dict[str, tuple[ViewportSize, bool]] = {
    "phone": ({"width": 390, "height": 844}, True),
    "desktop": ({"width": 1280, "height": 900}, False),
}


@pytest.fixture(params=list(VIEWPORTS))
def device(request, browser: Browser, live_server) -> Iterator[tuple[str, BrowserContext]]:
    viewport, touch = VIEWPORTS[request.param]
    context = browser.new_context(
        base_url=live_server.url,
        viewport=viewport,
        has_touch=touch,
        is_mobile=touch,
        locale="en-GB",
        bypass_csp=True,  # axe-core is injected (tests only)
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield request.param, context
    context.close()


def a_client_closed_three_years_ago(personas) -> None:
    ended = services.today() - datetime.timedelta(days=3 * 366)
    client = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="OLD-RET-1",
        therapist=personas.tara,
        start_date=ended - datetime.timedelta(days=90),
    )
    services.close_episode(personas.tara, client.episodes.get(), "planned", on=ended)


def test_an_admin_previews_retention_switches_the_kiosk_off_and_the_kiosk_refuses(device, personas):
    name, context = device
    a_client_closed_three_years_ago(personas)
    page: Page = context.new_page()
    log_in(page, "alice")
    page.goto("/agency/")
    page.get_by_role("link", name="Policies").click()
    page.wait_for_url(re.compile(r"/agency/policies/$"))
    expect(page.get_by_role("heading", name="Policies", level=1)).to_be_visible()
    assert_accessible(page)
    # Nothing scrolls sideways on a phone (wide tables scroll inside their own region).
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]

    page.get_by_label("Years to keep a client").fill("2")
    page.get_by_label("Waiting-room kiosk in use").uncheck()
    page.get_by_role("button", name="Preview this period").click()
    preview = page.get_by_test_id("retention-preview")
    expect(preview.get_by_text("What a retention period of 2 years would remove")).to_be_visible()
    expect(preview.get_by_test_id("preview-row").first).to_contain_text("Today")
    expect(preview.get_by_test_id("preview-row").first.get_by_role("cell").nth(1)).to_have_text("1")
    agency = Agency.objects.get(pk=personas.riverside.pk)
    assert agency.retention_years is None and agency.kiosk_enabled  # a preview saves nothing

    # Saving without the confirmation is refused, with the reason and nothing changed.
    page.get_by_role("button", name="Save policies").click()
    expect(page.get_by_test_id("policies-error")).to_contain_text("1 client would be removed")
    page.get_by_label("I have checked the preview of the new period").check()
    if name == "desktop":
        page.screenshot(path=str(screenshot_path("policies.png")), full_page=True)
    page.get_by_role("button", name="Save policies").click()
    expect(page.get_by_test_id("policies-saved")).to_be_visible()
    agency.refresh_from_db()
    assert agency.retention_years == 2 and not agency.kiosk_enabled

    tablet = context.new_page()
    tablet.goto(f"/f/kiosk/{agency.public_id}/")
    expect(tablet.get_by_role("heading", level=1)).to_have_text(
        "This agency does not use the waiting-room kiosk."
    )
    expect(tablet.get_by_label("Code")).to_have_count(0)
