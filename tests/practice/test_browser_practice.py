"""In Chromium: a therapist opens My practice on a phone and a desktop, keeps a practice log;
a colleague's page is not found; a supervisor sees their team one therapist at a time."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import log_in, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_therapist_reads_their_practice_and_keeps_a_log_on_a_phone(page: Page, history):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "tara")
    page.get_by_role("link", name="My practice").click()
    page.get_by_role("heading", name="My practice", level=1).wait_for()
    expect(page.get_by_test_id("practice-effectiveness")).to_be_visible()
    expect(page.get_by_role("heading", name="Alliance profile")).to_be_visible()
    expect(page.get_by_role("heading", name="Clients who are hardest to engage")).to_be_visible()
    # Nothing on the page is wider than the phone (tables scroll inside their own region).
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.get_by_label("Learning objective").fill("Repair ruptures before the client leaves")
    page.get_by_label("Measure to watch (optional)").select_option("ruptures_repaired")
    page.get_by_label("Starting on").fill("2024-01-15")
    page.get_by_role("button", name="Save objective").click()
    objective = page.get_by_test_id("objective")
    expect(objective).to_contain_text("Repair ruptures before the client leaves")
    expect(objective.get_by_test_id("objective-progress")).to_contain_text("Before")
    objective.get_by_label("Reflection").fill("Named the drop out loud; the next SRS was 38.")
    objective.get_by_role("button", name="Add reflection").click()
    expect(page.get_by_test_id("objective")).to_contain_text("Named the drop out loud")
    page.screenshot(path=str(screenshot_path("practice-phone.png")), full_page=True)


def test_a_colleagues_practice_page_is_not_found(page: Page, history):
    log_in(page, "tara")
    response = page.goto(f"/practice/people/{history.personas.theo.public_id}/")
    assert response is not None and response.status == 404


def test_a_supervisor_opens_one_therapist_at_a_time(page: Page, history):
    log_in(page, "sam")
    page.goto("/practice/team/")
    people = page.get_by_test_id("practice-people")
    expect(people.get_by_role("link", name="tara")).to_be_visible()
    expect(people.get_by_role("link", name="theo")).to_have_count(0)
    people.get_by_role("link", name="tara").click()
    page.get_by_role("heading", name="Practice of tara").wait_for()
    expect(page.get_by_test_id("practice-effectiveness")).to_be_visible()
    page.screenshot(path=str(screenshot_path("practice-supervisor.png")), full_page=True)
