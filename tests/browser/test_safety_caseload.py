"""In Chromium: the PHQ-9 item 9 safety alert (session page, caseload, at-risk list, audited
acknowledgement), the caseload legend, and a caseload that fits a phone without sideways scrolling.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Alert
from alliance.feedback import services as feedback
from alliance.science.instruments import get_instrument
from alliance.science.signals import SAFETY_CODE
from tests.browser.fixtures import DESKTOP, TIMEOUT_MS
from tests.browser.helpers import log_in, log_out, record_history, screenshot_path
from tests.browser.test_feedback_client_forms import axe_violations
from tests.web.test_safety_alerts import PHQ9_QUIET, phq9_client, rate_phq9

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 320, "height": 640}
MESSAGE = get_instrument("phq9").safety.message


def touch_context(browser: Browser, base_url: str, viewport):
    context = browser.new_context(
        base_url=base_url,
        viewport=viewport,
        has_touch=viewport != DESKTOP,
        locale="en-GB",
        bypass_csp=True,  # axe-core is injected (tests only)
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def sideways_overflow(page: Page) -> int:
    """How far the page scrolls sideways (0 when it fits the viewport)."""
    return page.evaluate(
        "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
    )


def a_busy_caseload(p) -> None:
    """tara's caseload with every colour, an alliance flag and an open safety alert."""
    record_history(p.tara, "R-GREEN-LONGER-CODE-1", [(18.0, 38.0), (24.0, 39.0), (30.0, 39.5)])
    record_history(p.tara, "R-ORANGE-2", [(18.0, 38.0), (19.0, 37.5), (19.5, 37.0)])
    record_history(p.tara, "R-RED-3", [(20.0, 38.0), (14.0, 30.0)])
    phq = phq9_client(p, "R-PHQ-4")
    rate_phq9(p.tara, phq, 1, 1, "safety")


def test_the_phq9_item_9_alert_reaches_session_page_caseload_and_at_risk_list(page: Page, personas):
    p = personas
    phq = phq9_client(p)
    session = services.start_session(p.tara, phq)
    log_in(page, "tara")
    page.goto(f"/clients/{phq.public_id}/sessions/{session.number}/")
    expect(page.get_by_test_id("safety-alerts")).to_have_count(0)
    # Saved as the service saves any rating (the therapist's form, a link or the kiosk).
    services.record_administration(
        p.tara,
        session,
        instrument="phq9",
        idempotency_key="b",
        items={**PHQ9_QUIET, "self_harm": 2},
    )
    page.reload()
    alert = page.get_by_test_id("safety-alerts")
    expect(alert).to_be_visible()
    expect(alert.get_by_role("alert")).to_contain_text(MESSAGE)
    expect(alert).to_contain_text(f"Safety alert · session {session.number}")

    page.get_by_role("link", name="Caseload").first.click()
    row = page.get_by_role("row", name="R-PHQ-1")
    expect(row.get_by_test_id("safety-badge")).to_be_visible()
    expect(page.locator("table.caseload tbody tr").first).to_contain_text("R-PHQ-1")
    expect(row).to_contain_text("PHQ-9")
    log_out(page)

    log_in(page, "sam")
    page.get_by_role("link", name="Supervision").click()
    first = page.locator("table.at-risk tbody tr").first
    expect(first).to_contain_text("R-PHQ-1")
    expect(first).to_contain_text("Safety")
    expect(first).to_contain_text(MESSAGE)
    log_out(page)

    log_in(page, "tara")
    page.goto(f"/clients/{phq.public_id}/sessions/{session.number}/")
    page.get_by_role("button", name="Acknowledge: the risk conversation is under way").click()
    expect(page.get_by_test_id("safety-acknowledged")).to_contain_text("Acknowledged by tara")
    alert_row = Alert.objects.get(episode__client=phq, code=SAFETY_CODE)
    assert alert_row.acknowledged_by == p.tara and alert_row.acknowledged_at is not None
    event = AuditEvent.objects.get(action="alert.acknowledged")
    assert event.actor == p.tara and event.detail["alert"] == alert_row.pk
    page.get_by_role("link", name="Caseload").first.click()
    expect(page.get_by_test_id("safety-badge")).to_have_count(0)
    page.goto(f"/clients/{phq.public_id}/")
    expect(page.get_by_test_id("safety-acknowledged")).to_be_visible()  # kept as history


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE, SMALL_PHONE], ids=["desktop", "390", "320"])
def test_the_caseload_has_a_legend_and_never_scrolls_sideways(
    browser: Browser, live_server, personas, viewport
):
    a_busy_caseload(personas)
    context = touch_context(browser, live_server.url, viewport)
    page = context.new_page()
    log_in(page, "tara")
    legend = page.get_by_test_id("caseload-legend")
    expect(legend).to_be_visible()
    for label in ("Grey", "Green", "Orange", "Red", "Check alliance", "Safety"):
        expect(legend.get_by_text(label, exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Last score")).to_have_count(1)
    assert sideways_overflow(page) <= 0, f"scrolls {sideways_overflow(page)} px sideways"
    # Every client stays reachable with its colour and its start button on the phone too.
    for code in ("R-GREEN-LONGER-CODE-1", "R-ORANGE-2", "R-RED-3", "R-PHQ-4"):
        row = page.get_by_role("row", name=code)
        expect(row.get_by_role("button", name=f"Start session for {code}")).to_be_visible()
        box = row.bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"] + 0.5
    assert axe_violations(page) == []
    if viewport == DESKTOP:
        page.screenshot(path=str(screenshot_path("caseload-legend.png")), full_page=True)
    context.close()


def test_an_acknowledged_alert_stays_acknowledged_after_the_next_session(page: Page, personas):
    p = personas
    phq = phq9_client(p)
    rate_phq9(p.tara, phq, 1, 3, "a")
    services.acknowledge_alert(p.sam, Alert.objects.get(episode__client=phq))
    later = rate_phq9(p.tara, phq, 8, 0, "b")
    log_in(page, "tara")
    page.goto(f"/clients/{phq.public_id}/sessions/{later.number}/")
    expect(page.get_by_test_id("safety-acknowledged")).to_contain_text("Acknowledged by sam")
    expect(
        page.get_by_role("button", name="Acknowledge: the risk conversation is under way")
    ).to_have_count(0)


def test_a_client_links_item_9_answer_appears_on_the_open_session_page_without_reload(
    page: Page, personas
):
    p = personas
    phq = phq9_client(p)
    session = services.start_session(p.tara, phq)
    new = feedback.create_link(p.tara, session, instrument="phq9")
    log_in(page, "tara")
    page.goto(f"/clients/{phq.public_id}/sessions/{session.number}/")
    expect(page.get_by_test_id("safety-alerts")).to_have_count(0)
    # The client answers on their phone while the therapist's page stays open.
    feedback.submit_link(
        feedback.open_link(new.token),
        items={**PHQ9_QUIET, "self_harm": 1},
        idempotency_key="phone",
    )
    alert = page.get_by_test_id("safety-alerts").get_by_role("alert")
    expect(alert).to_contain_text(MESSAGE, timeout=15_000)  # the page polls every 4 s
