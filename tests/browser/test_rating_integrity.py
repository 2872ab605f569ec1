"""No rating overwritten, none invented, no phantom session (issue 17, section 3) in Chromium:
on a phone (touch), a tablet and a desktop."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from alliance.care import services
from alliance.care.models import Administration, Episode, Session
from alliance.feedback import services as feedback
from tests.browser.fixtures import TIMEOUT_MS
from tests.browser.helpers import log_in, log_out

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}
TABLET: ViewportSize = {"width": 768, "height": 1024}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def opened(browser: Browser, base_url: str, viewport: ViewportSize, touch: bool = False):
    context = browser.new_context(
        base_url=base_url, viewport=viewport, has_touch=touch, locale="en-GB"
    )
    # Three times the usual: a busy machine takes seconds to serve a page.
    context.set_default_timeout(3 * TIMEOUT_MS)
    return context


@pytest.fixture
def contexts(browser: Browser, live_server) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def tap_each_line(page: Page, form_name: str) -> None:
    """Rate every line of the form with a tap (touch screens) at two thirds of its width."""
    form = page.get_by_role("group", name=form_name)
    for line in form.get_by_role("slider").all():
        box = line.bounding_box()
        assert box is not None
        page.touchscreen.tap(box["x"] + box["width"] * 2 / 3, box["y"] + box["height"] / 2)
        # A keypress as well, so the value is chosen whatever the widget does with a tap.
        line.focus()
        page.keyboard.press("End")


def test_a_second_link_cannot_overwrite_a_completed_rating_on_a_phone(
    browser: Browser, live_server, personas, contexts
) -> None:
    session = services.start_session(personas.tara, personas.tara_client)
    first = feedback.create_link(personas.tara, session, instrument="ors")
    second = feedback.create_link(personas.tara, session, instrument="ors")
    late_phone = opened(browser, live_server.url, PHONE, touch=True)
    quick_phone = opened(browser, live_server.url, PHONE, touch=True)
    contexts.extend([late_phone, quick_phone])
    late = late_phone.new_page()
    late.goto(f"/f/{second.token}/")  # opened first, sent last
    expect(late.get_by_role("group", name="Outcome Rating Scale")).to_be_visible()
    quick = quick_phone.new_page()
    quick.goto(f"/f/{first.token}/")
    tap_each_line(quick, "Outcome Rating Scale")
    quick.get_by_role("button", name="Send").tap()
    expect(quick.get_by_role("heading", name="Thank you")).to_be_visible()
    stored = Administration.objects.get()
    assert stored.total == 40.0
    tap_each_line(late, "Outcome Rating Scale")
    for line in late.get_by_role("group", name="Outcome Rating Scale").get_by_role("slider").all():
        line.focus()
        late.keyboard.press("Home")
    late.get_by_role("button", name="Send").tap()
    expect(late.get_by_role("heading", name="This form was already filled in")).to_be_visible()
    expect(late.get_by_text("Nothing was saved from this page.")).to_be_visible()
    assert Administration.objects.get().total == 40.0  # not replaced by the zeros
    # The link opened again later says the same, without a form.
    late.goto(f"/f/{second.token}/")
    expect(late.get_by_role("heading", name="This form was already filled in")).to_be_visible()
    expect(late.get_by_role("button", name="Send")).to_have_count(0)


def test_a_paper_total_exports_with_empty_items(
    browser: Browser, live_server, personas, contexts
) -> None:
    desktop = opened(browser, live_server.url, DESKTOP)
    contexts.append(desktop)
    page = desktop.new_page()
    log_in(page, "tara")
    page.get_by_role("link", name=personas.tara_client.display_code).click()
    page.get_by_role("button", name="Start today's session").click()
    form = page.locator("form.instrument-form").filter(
        has=page.locator('input[name="instrument"][value="ors"]')
    )
    form.get_by_text("Enter from paper or phone").click()
    expect(form.get_by_label("Entry mode")).to_contain_text("Paper")
    assert form.get_by_label("Entry mode").locator("option").all_inner_texts() == [
        "Not from paper or phone",
        "Paper",
        "Phone",
    ]
    form.get_by_label("Entry mode").select_option("phone")
    form.get_by_label("Total only").fill("22")
    form.get_by_role("button", name=re.compile("^Save")).click()
    expect(page.get_by_text("Saved: 22.0 (Phone)")).to_be_visible()
    stored = Administration.objects.get()
    assert (stored.items, stored.total_only, stored.entry_mode) == ({}, True, "phone")
    log_out(page)
    log_in(page, "alice")
    page.goto("/reports/exports/")
    for button in ("Administrations (CSV)", "Administrations (research CSV)"):
        with page.expect_download() as download:
            page.get_by_role("button", name=button).click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        (row,) = [r for r in csv.DictReader(io.StringIO(text)) if r["instrument"] == "ors"]
        assert float(row["total"]) == 22.0
        items = [value for name, value in row.items() if name.startswith("item_")]
        assert items and all(value == "" for value in items), row


def test_opening_and_leaving_the_session_page_leaves_the_session_count_unchanged_on_a_tablet(
    browser: Browser, live_server, personas, contexts
) -> None:
    tablet = opened(browser, live_server.url, TABLET, touch=True)
    contexts.append(tablet)
    page = tablet.new_page()
    log_in(page, "tara")
    code = personas.tara_client.display_code
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=code))
    before = row.get_by_role("cell").all_inner_texts()
    row.get_by_role("button", name=f"Start session for {code}").click()
    expect(page.get_by_role("heading", name=re.compile(rf"{code} · Session 1"))).to_be_visible()
    page.get_by_role("link", name="Client page").click()
    expect(page.get_by_role("heading", name=re.compile(code))).to_be_visible()
    page.goto("/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=code))
    assert row.get_by_role("cell").all_inner_texts() == before
    episode = Episode.objects.get(client=personas.tara_client)
    assert (episode.session_count, episode.last_session_date) == (0, None)
    # Started again and left again: still the one empty start, no second session.
    row.get_by_role("button", name=f"Start session for {code}").click()
    expect(page.get_by_role("heading", name=re.compile(rf"{code} · Session 1"))).to_be_visible()
    assert Session.objects.filter(episode=episode).count() == 1
    # Setting the attendance makes it a session.
    page.get_by_label("Attendance").select_option("attended")
    page.get_by_role("button", name="Save attendance").click()
    page.goto("/")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=code))
    cells = row.get_by_role("cell").all_inner_texts()
    assert cells != before and "1" in cells
