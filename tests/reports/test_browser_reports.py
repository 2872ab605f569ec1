"""In Chromium: a supervisor finds the at-risk list and the effectiveness pictures."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, screenshot_path
from tests.reports.test_dashboard import deteriorate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_supervisor_reaches_the_at_risk_list_and_the_report_pictures(page: Page, history):
    p = history.personas
    deteriorate(p.tara, p.tara_client, "b")
    log_in(page, "sam")
    page.get_by_role("link", name="Supervision").click()
    page.get_by_role("heading", name="Clients at risk").wait_for()
    row = page.get_by_role("row", name="R-TARA-1")
    expect(row).to_contain_text("Reliable deterioration")
    expect(page.get_by_role("link", name="R-THEO-1")).to_have_count(0)
    page.screenshot(path=str(screenshot_path("reports-dashboard.png")), full_page=True)
    page.get_by_role("link", name="Effectiveness reports").click()
    expect(
        page.get_by_role("img", name="Pre-post effect size by group, with 95% intervals")
    ).to_be_visible()
    expect(
        page.get_by_role(
            "img", name="Therapist effects: shrunken estimates with 95% intervals, in name order"
        )
    ).to_be_visible()
    page.get_by_label("Group by").select_option("therapist_id")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("cell", name="theo")).to_have_count(0)
    page.screenshot(path=str(screenshot_path("reports-effectiveness.png")), full_page=True)
