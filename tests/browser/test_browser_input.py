"""Touch, pointer and keyboard input on the rating forms in Debian's Chromium (issue 17, part 2):
a tap anywhere on a visual-analogue line records that value (the midpoint too), a mouse click lands
within 0.05 of where it was clicked, the value shown is the value stored, the keyboard keeps its
steps, and the PHQ-9 / GAD-7 are answered with labelled radio buttons wherever a person rates them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from alliance.care import services
from alliance.care.models import Administration
from alliance.feedback import services as feedback
from tests.browser.fixtures import TIMEOUT_MS
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
ORS_LINES = ("Individually", "Interpersonally", "Socially", "Overall")


def open_context(browser: Browser, base_url: str, viewport, *, touch: bool) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url, viewport=viewport, has_touch=touch, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def phone(browser: Browser, live_server) -> Iterator[Page]:
    context = open_context(browser, live_server.url, PHONE, touch=True)
    yield context.new_page()
    context.close()


def line(root: Page | Locator, name: str) -> Locator:
    return root.get_by_role("slider", name=re.compile(rf"^{re.escape(name)}"))


def shown(root: Page | Locator, name: str) -> str:
    """The value printed beside a line (its output element)."""
    slider_id = line(root, name).get_attribute("id")
    return root.locator(f'output[for="{slider_id}"]').inner_text()


def at(box: dict, fraction: float) -> dict:
    """A point on the line at fraction of its width, halfway down (relative to the element)."""
    return {"x": box["width"] * fraction, "y": box["height"] / 2}


def ors_link(personas, rater: str = "client") -> str:
    session = services.start_session(personas.tara, personas.tara_client)
    return f"/f/{feedback.create_link(personas.tara, session, instrument='ors').token}/"


@pytest.mark.parametrize("viewport", [PHONE, TABLET], ids=["phone", "tablet"])
def test_a_single_tap_at_the_midpoint_of_each_line_stores_five(
    browser: Browser, live_server, personas, viewport
) -> None:
    context = open_context(browser, live_server.url, viewport, touch=True)
    page = context.new_page()
    page.goto(ors_link(personas))
    for name in ORS_LINES:
        slider = line(page, name)
        box = slider.bounding_box()
        assert box is not None
        slider.tap(position=at(box, 0.5))
        assert shown(page, name) == "5.0"
        assert slider.get_attribute("aria-valuetext") == "5.0 / 10"
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    stored = Administration.objects.get()
    assert stored.items == {
        "individually": 5.0,
        "interpersonally": 5.0,
        "socially": 5.0,
        "overall": 5.0,
    }
    assert stored.total == 20.0
    context.close()


def test_a_tap_anywhere_on_a_line_records_that_spot_and_the_shown_value_is_stored(
    phone: Page, personas
) -> None:
    phone.goto(ors_link(personas))
    fractions = dict(zip(ORS_LINES, (0.0, 0.13, 0.77, 0.999), strict=True))
    for name, fraction in fractions.items():
        slider = line(phone, name)
        box = slider.bounding_box()
        assert box is not None
        slider.tap(position=at(box, fraction))
    values = {name: float(shown(phone, name)) for name in ORS_LINES}
    for name, fraction in fractions.items():
        assert abs(values[name] - fraction * 10) <= 0.05, (name, values[name])
    phone.get_by_role("button", name="Send").click()
    expect(phone.get_by_role("heading", name="Thank you")).to_be_visible()
    stored = Administration.objects.get()
    # By key: PostgreSQL's jsonb does not keep the keys in the order they were written.
    stored_values = [stored.items[name.lower()] for name in ORS_LINES]
    assert stored_values == pytest.approx([values[name] for name in ORS_LINES])
    assert stored.total == pytest.approx(sum(values.values()))


def test_a_second_tap_moves_the_mark_and_a_swipe_along_the_line_ends_where_it_stops(
    phone: Page, personas
) -> None:
    phone.goto(ors_link(personas))
    slider = line(phone, "Socially")
    box = slider.bounding_box()
    assert box is not None
    slider.tap(position=at(box, 0.2))
    assert shown(phone, "Socially") == "2.0"
    slider.tap(position=at(box, 0.5))
    assert shown(phone, "Socially") == "5.0"
    # A finger put down at 3/10 and slid to 6/10 of the line leaves the mark at 6.0.
    cdp = phone.context.new_cdp_session(phone)
    y = box["y"] + box["height"] / 2
    for kind, fraction in (("touchStart", 0.3), ("touchMove", 0.45), ("touchMove", 0.6)):
        point = {"x": box["x"] + box["width"] * fraction, "y": y}
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [point]})
    assert shown(phone, "Socially") == "6.0"
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert shown(phone, "Socially") == "6.0"
    assert phone.evaluate("window.scrollY") == 0


def test_a_mouse_click_lands_within_five_hundredths_of_the_spot_clicked(
    page: Page, personas
) -> None:
    session = services.start_session(personas.tara, personas.tara_client)
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{personas.tara_client.public_id}/sessions/{session.number}/")
    ors = page.get_by_role("group", name="Outcome Rating Scale")
    fractions = dict(zip(ORS_LINES, (0.013, 0.374, 0.5, 0.986), strict=True))
    for name, fraction in fractions.items():
        box = line(ors, name).bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
    values = {name: float(shown(ors, name)) for name in ORS_LINES}
    for name, fraction in fractions.items():
        assert abs(values[name] - fraction * 10) <= 0.05, (name, values[name], fraction)
    assert values["Socially"] == 5.0  # exactly the midpoint
    total = page.get_by_test_id("ors-total").inner_text()
    assert float(total) == pytest.approx(sum(values.values()))
    page.get_by_role("button", name="Save ORS").click()
    expect(page.get_by_text(re.compile(r"Saved: "))).to_be_visible()
    stored = Administration.objects.get(instrument="ors")
    # By key: PostgreSQL's jsonb does not keep the keys in the order they were written.
    stored_values = [stored.items[name.lower()] for name in ORS_LINES]
    assert stored_values == pytest.approx([values[name] for name in ORS_LINES])
    assert f"{stored.total:.1f}" == total


def test_the_keyboard_keeps_its_steps_after_a_tap(phone: Page, personas) -> None:
    phone.goto(ors_link(personas))
    slider = line(phone, "Individually")
    box = slider.bounding_box()
    assert box is not None
    slider.tap(position=at(box, 0.5))
    for key, expected in (
        ("ArrowRight", "5.1"),
        ("ArrowUp", "5.2"),
        ("ArrowLeft", "5.1"),
        ("PageUp", "6.1"),
        ("PageDown", "5.1"),
        ("Home", "0.0"),
        ("End", "10.0"),
    ):
        phone.keyboard.press(key)
        assert shown(phone, "Individually") == expected, key
        assert float(slider.input_value()) == float(expected), key


def phq9_client(personas, code: str = "PHQ-B1"):
    return services.create_client(
        personas.tara,
        personas.riverside,
        display_code=code,
        therapist=personas.tara,
        outcome_instrument="phq9",
    )


def answer(root: Page | Locator, question: str, answer: str) -> None:
    root.get_by_role("group", name=question).get_by_role("radio", name=answer).check()


PHQ9_ANSWERS = {
    "Little interest or pleasure in doing things": "Several days",  # 1
    "Feeling down, depressed, or hopeless": "More than half the days",  # 2
    "Trouble falling or staying asleep, or sleeping too much": "Nearly every day",  # 3
    "Feeling tired or having little energy": "Several days",  # 1
    "Poor appetite or overeating": "Not at all",  # 0
}


def answer_phq9(root: Page | Locator) -> None:
    groups = root.locator("fieldset.likert")
    assert groups.count() == 9
    for index in range(9):
        legend = groups.nth(index).locator("legend").inner_text()
        choice = PHQ9_ANSWERS.get(legend, "Several days" if index < 8 else "Not at all")
        answer(root, legend, choice)


# 1 + 2 + 3 + 1 + 0, then items 6-8 "Several days" (1 each) and item 9 "Not at all": 10.
PHQ9_TOTAL = 10


def test_the_phq9_is_answered_with_labelled_radio_buttons_on_the_session_page(
    page: Page, personas
) -> None:
    client = phq9_client(personas)
    session = services.start_session(personas.tara, client)
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{client.public_id}/sessions/{session.number}/")
    phq = page.get_by_role("group", name="Patient Health Questionnaire-9")
    expect(phq.get_by_role("slider")).to_have_count(0)
    first = phq.get_by_role("group", name="Little interest or pleasure in doing things")
    expect(first.get_by_role("radio")).to_have_count(4)
    for name in ("Not at all", "Several days", "More than half the days", "Nearly every day"):
        expect(first.get_by_role("radio", name=name, exact=True)).to_have_count(1)
    answer_phq9(phq)
    expect(page.get_by_test_id("phq9-total")).to_have_text(str(PHQ9_TOTAL))
    phq.get_by_role("button").last.click()
    expect(page.get_by_text(f"Saved: {PHQ9_TOTAL} ")).to_be_visible()
    stored = Administration.objects.get(instrument="phq9")
    assert stored.total == PHQ9_TOTAL and float(stored.total).is_integer()
    assert all(float(value).is_integer() for value in stored.items.values())


def test_the_phq9_by_link_and_the_gad7_on_the_kiosk_are_radio_buttons_too(
    browser: Browser, live_server, personas
) -> None:
    client = phq9_client(personas)
    session = services.start_session(personas.tara, client)
    link = feedback.create_link(personas.tara, session, instrument="phq9")
    context = open_context(browser, live_server.url, PHONE, touch=True)
    page = context.new_page()
    page.goto(f"/f/{link.token}/")
    expect(page.get_by_role("slider")).to_have_count(0)
    # Sending with a question unanswered is refused, and says why.
    page.get_by_role("button", name="Send").click()
    assert not Administration.objects.exists()
    answer_phq9(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for option in page.locator(".likert-option").all():
        box = option.bounding_box()
        assert box is not None and box["height"] >= 44
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    assert Administration.objects.get().total == PHQ9_TOTAL

    gad = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="GAD-B1",
        therapist=personas.tara,
        outcome_instrument="gad7",
    )
    kiosk = feedback.create_kiosk_pass(
        personas.tara, services.start_session(personas.tara, gad), instrument="gad7"
    )
    page.goto(f"/f/kiosk/{personas.riverside.public_id}/")
    page.get_by_label("Code").fill(kiosk.code)
    page.get_by_label("PIN").fill(kiosk.pin)
    page.get_by_role("button", name="Open my form").click()
    expect(page.get_by_role("slider")).to_have_count(0)
    groups = page.locator("fieldset.likert")
    expect(groups).to_have_count(7)
    for index in range(7):
        groups.nth(index).get_by_role("radio", name="More than half the days").check()
    page.get_by_role("button", name="Send").click()
    # The kiosk thanks the client and is back at code entry for the next person.
    expect(page.get_by_role("status")).to_contain_text("Thank you")
    expect(page.get_by_label("Code")).to_be_visible()
    assert Administration.objects.get(instrument="gad7").total == 14
    context.close()
