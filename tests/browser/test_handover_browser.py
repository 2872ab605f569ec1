"""Hand-over in a real browser (issue 17, section 1) on a phone (touch), a tablet and a desktop:
the client's screen shows one scale and nothing of the therapist's view, focus moves on with a
polite announcement after each saved scale, and only the therapist's PIN or password gives the
device back. axe-core checks the client's form and the thank-you page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from alliance.accounts.models import HandoverReauth
from alliance.audit.models import AuditEvent
from alliance.care.models import Administration
from tests.browser.fixtures import TIMEOUT_MS
from tests.browser.helpers import log_in, record_history, screenshot_path
from tests.browser.test_feedback_client_forms import assert_accessible
from tests.web.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS: dict[str, tuple[ViewportSize, bool]] = {
    "phone": ({"width": 390, "height": 844}, True),
    "tablet": ({"width": 768, "height": 1024}, False),
    "desktop": ({"width": 1280, "height": 900}, False),
}
HANDOVER = re.compile(r"/handover/$")
THANKS = re.compile(r"/handover/thanks/$")


@pytest.fixture(params=list(VIEWPORTS))
def device(request, browser: Browser, live_server) -> Iterator[tuple[str, Page]]:
    viewport, touch = VIEWPORTS[request.param]
    context: BrowserContext = browser.new_context(
        base_url=live_server.url,
        viewport=viewport,
        has_touch=touch,
        is_mobile=touch,
        locale="en-GB",
        bypass_csp=True,  # axe-core is injected (tests only)
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield request.param, context.new_page()
    context.close()


def open_session(page: Page, therapist, code: str) -> str:
    """A client with one earlier session; today's session page opened by the therapist."""
    history = record_history(therapist, code, [(20.0, 37.0)])
    log_in(page, therapist.username)
    page.goto(f"/clients/{history.client.public_id}/")
    page.get_by_role("button", name="Start today's session").click()
    page.wait_for_url(re.compile(r"/sessions/2/$"))
    return page.url


def rate_every_line(page: Page) -> None:
    for slider in page.get_by_role("slider").all():
        slider.focus()
        page.keyboard.press("End")
        page.keyboard.press("PageDown")  # 9.0 on every line


def assert_no_therapist_controls(page: Page) -> None:
    for name in ("Log out", "Save attendance", "Undo"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    for name in ("Caseload", "Client page", "My practice", "Undo"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    expect(page.get_by_role("navigation")).to_have_count(0)
    expect(page.get_by_text("Enter from paper or phone")).to_have_count(0)
    expect(page.get_by_label("Rater")).to_have_count(0)
    expect(page.get_by_label("Entry mode")).to_have_count(0)
    expect(page.get_by_test_id("progress-graph")).to_have_count(0)


def assert_end_labels_at_the_ends_of_each_line(page: Page) -> None:
    lines = page.locator(".vas")
    assert lines.count() == 4
    for index in range(lines.count()):
        line = lines.nth(index)
        track = line.locator("input[type=range]").bounding_box()
        low = line.locator(".anchors > span").first.bounding_box()
        high = line.locator(".anchors > span").last.bounding_box()
        assert track and low and high
        assert abs(low["x"] - track["x"]) <= 2, (low, track)
        assert abs((high["x"] + high["width"]) - (track["x"] + track["width"])) <= 2, (high, track)
        assert low["y"] >= track["y"] + track["height"] - 1  # under the line
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_the_hand_over_shows_the_ors_alone_and_gives_back_only_after_reauthentication(
    device, personas
) -> None:
    name, page = device
    session_url = open_session(page, personas.tara, f"HO-{name[:2].upper()}")
    page.get_by_role("button", name="Hand over for the ORS", exact=True).click()
    page.wait_for_url(HANDOVER)

    expect(page.get_by_role("heading", name="Outcome Rating Scale")).to_be_focused()
    expect(page.get_by_text("Looking back over the last week, including today")).to_be_visible()
    expect(page.get_by_text("Personal well-being")).to_be_visible()
    expect(page.get_by_role("slider")).to_have_count(4)
    expect(page.get_by_role("slider", name=re.compile("^Relationship"))).to_have_count(0)
    assert_no_therapist_controls(page)
    assert_end_labels_at_the_ends_of_each_line(page)
    assert_accessible(page)
    if name == "phone":
        page.screenshot(path=str(screenshot_path("handover-phone.png")), full_page=True)

    # Nothing else of the site is reachable from the client's screen.
    page.goto("/")
    page.wait_for_url(HANDOVER)

    rate_every_line(page)
    page.get_by_role("button", name="Save ORS").click()
    page.wait_for_url(THANKS)
    heading = page.get_by_role("heading", name="Thank you, please hand the device back")
    expect(heading).to_be_focused()
    expect(page.get_by_role("status")).to_have_text("ORS saved. Thank you.")
    assert_no_therapist_controls(page)
    assert_accessible(page)
    stored = Administration.objects.get(session__number=2, instrument="ors")
    assert (stored.rater, stored.total) == ("client", pytest.approx(36.0))

    page.goto(session_url)
    page.wait_for_url(THANKS)
    page.get_by_role("link", name="For the therapist: take the device back").click()
    page.get_by_label("Your password").fill("not the password")
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("alert")).to_contain_text("That password is not right.")
    page.goto("/")
    page.wait_for_url(THANKS)
    page.get_by_role("link", name="For the therapist: take the device back").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_url(session_url)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert AuditEvent.objects.filter(action="handover.reauth_failed").count() == 1
    assert AuditEvent.objects.filter(action="handover.ended").count() == 1


def test_both_scales_come_one_at_a_time_and_focus_moves_on_with_an_announcement(
    device, personas
) -> None:
    name, page = device
    open_session(page, personas.tara, f"HB-{name[:2].upper()}")
    page.get_by_role("button", name="Hand over for the ORS, then the SRS").click()
    page.wait_for_url(HANDOVER)
    expect(page.get_by_role("heading", name="Outcome Rating Scale")).to_be_focused()
    expect(page.get_by_role("slider", name=re.compile("^Relationship"))).to_have_count(0)
    rate_every_line(page)
    page.get_by_role("button", name="Save ORS").click()

    heading = page.get_by_role("heading", name="Session Rating Scale")
    expect(heading).to_be_focused()
    expect(page.get_by_role("status")).to_have_text("ORS saved. Next: SRS.")
    expect(page.get_by_role("status")).to_have_attribute("aria-live", "polite")
    expect(page.get_by_text("Please rate today's session")).to_be_visible()
    expect(page.get_by_role("slider", name=re.compile("^Individually"))).to_have_count(0)
    assert_no_therapist_controls(page)
    assert_end_labels_at_the_ends_of_each_line(page)
    assert_accessible(page)
    rate_every_line(page)
    page.get_by_role("button", name="Save SRS").click()
    page.wait_for_url(THANKS)
    expect(
        page.get_by_role("heading", name="Thank you, please hand the device back")
    ).to_be_focused()
    expect(page.get_by_role("status")).to_have_text("SRS saved. Thank you.")
    assert Administration.objects.filter(session__number=2, rater="client").count() == 2


def test_a_pin_set_on_the_account_page_gives_the_tablet_back(
    browser: Browser, live_server, personas
) -> None:
    personas.riverside.handover_reauth = HandoverReauth.PIN
    personas.riverside.save()
    viewport, _touch = VIEWPORTS["tablet"]
    context = browser.new_context(
        base_url=live_server.url, viewport=viewport, locale="en-GB", bypass_csp=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    session_url = open_session(page, personas.tara, "HO-PIN")
    page.get_by_role("link", name="Hand-over PIN").click()
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_label("New PIN (4 to 8 digits; empty removes it)").fill("4821")
    page.get_by_label("New PIN again").fill("4821")
    page.get_by_role("button", name="Save PIN").click()
    expect(page.get_by_role("status")).to_have_text("Your hand-over PIN is set.")

    page.goto(session_url)
    page.get_by_role("button", name="Hand over for the SRS").click()
    page.wait_for_url(HANDOVER)
    expect(page.get_by_role("heading", name="Session Rating Scale")).to_be_focused()
    page.get_by_role("link", name="For the therapist: take the device back").click()
    expect(page.get_by_role("heading", name="Take the device back")).to_be_focused()
    assert_no_therapist_controls(page)
    assert_accessible(page)
    page.get_by_label("Your hand-over PIN").fill("0000")
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_role("alert")).to_contain_text("That PIN is not right.")
    page.get_by_label("Your hand-over PIN").fill("4821")
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_url(session_url)
    assert AuditEvent.objects.get(action="handover.ended").detail == {"method": "pin"}
    context.close()


def test_the_therapists_own_form_has_its_end_labels_at_the_ends_of_the_lines_too(
    device, personas
) -> None:
    name, page = device
    open_session(page, personas.tara, f"ENDS-{name[:2].upper()}")
    ors = page.locator("form.instrument-form", has=page.get_by_role("button", name="Save ORS"))
    lines = ors.locator(".vas")
    assert lines.count() == 4
    for index in range(lines.count()):
        line = lines.nth(index)
        track = line.locator("input[type=range]").bounding_box()
        high = line.locator(".anchors > span").last.bounding_box()
        assert track and high
        assert abs((high["x"] + high["width"]) - (track["x"] + track["width"])) <= 2, (high, track)
