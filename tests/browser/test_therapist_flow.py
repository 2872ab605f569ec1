"""The therapist's core loop in a real browser (issue 3): ORS and SRS by keyboard, zone, graph,
alliance prompt, closing an episode, other therapists' 404, no-JavaScript saving and the README
screenshots (hand-over: test_handover_browser.py).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from alliance.care.models import Administration, Episode
from tests.browser.helpers import ClientHistory, log_in, log_out, record_history, screenshot_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZONE_TEXT = {"green": "Green", "orange": "Orange", "red": "Red", "grey": "Grey (first session)"}


def slider(page: Page, name: str) -> Locator:
    # The accessible name starts with the item's label; anchors may follow it.
    return page.get_by_role("slider", name=re.compile(rf"^{re.escape(name)}"))


def tab_until_focused(page: Page, target: Locator, max_presses: int = 8) -> None:
    """Move focus forward with Tab only, as a keyboard user would, until target has it."""
    for _ in range(max_presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{max_presses} presses of Tab did not reach {target}")


def press(page: Page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


# Chromium's range inputs: Home/End jump to min/max, arrows move one step (0.1), PageUp/PageDown
# one tenth of the range (1.0). Each plan below ends on a known value.
ORS_KEYS = {
    "Individually": ("Home", *["PageUp"] * 9, *["ArrowRight"] * 5),  # 9.5
    "Interpersonally": ("End",),  # 10.0
    "Socially": ("End", *["ArrowLeft"] * 3),  # 9.7
    "Overall": ("End", "PageDown"),  # 9.0
}
ORS_EXPECTED = {"individually": 9.5, "interpersonally": 10.0, "socially": 9.7, "overall": 9.0}
ORS_TOTAL = 38.2
SRS_KEYS = {
    "Relationship": ("End", *["ArrowLeft"] * 10),  # 9.0
    "Goals and Topics": ("End", "PageDown"),  # 9.0
    "Approach or Method": ("Home", *["PageUp"] * 8),  # 8.0
    "Overall": ("End", *["ArrowLeft"] * 5),  # 9.5
}
SRS_TOTAL = 35.5


def enter_by_keyboard(page: Page, form: Locator, plan: dict[str, tuple[str, ...]]) -> None:
    first = True
    for label, keys in plan.items():
        field = slider_in(form, label)
        if first:
            field.focus()
            first = False
        else:
            tab_until_focused(page, field, max_presses=1)
        press(page, *keys)


def slider_in(form: Locator, name: str) -> Locator:
    return form.get_by_role("slider", name=re.compile(rf"^{re.escape(name)}"))


def fieldset(page: Page, legend: str) -> Locator:
    return page.get_by_role("group", name=legend)


def number_in(text: str) -> float:
    match = re.search(r"\d+(?:\.\d+)?", text)
    assert match, f"no number in {text!r}"
    return float(match.group())


def test_a_therapist_records_ors_and_srs_by_keyboard_and_closes_the_episode(
    page: Page, personas, live_server
) -> None:
    history = record_history(personas.tara, "K7Q2", [(18.0, 38.0)])
    log_in(page, personas.tara.username)
    page.get_by_role("link", name="K7Q2").click()
    expect(page.get_by_role("heading", name="K7Q2")).to_be_visible()
    client_url = page.url
    assert history.client.public_id in client_url

    page.get_by_role("button", name="Start today's session").click()
    page.wait_for_url(re.compile(rf"/clients/{history.client.public_id}/sessions/2/$"))

    ors = fieldset(page, "Outcome Rating Scale")
    enter_by_keyboard(page, ors, ORS_KEYS)
    expect(page.get_by_test_id("ors-total")).to_have_text(re.compile(r"38\.2"))
    tab_until_focused(page, page.get_by_role("button", name="Save ORS"))
    # With JavaScript the form is sent with fetch: a marker on window survives only if the page
    # is not reloaded.
    page.evaluate("window.allianceNoReload = true")
    page.keyboard.press("Enter")

    new_point = page.locator('[data-testid="progress-graph"] circle.ors-point[data-session="2"]')
    expect(new_point).to_have_attribute("data-score", "38.2")
    assert page.evaluate("window.allianceNoReload === true"), "saving the ORS reloaded the page"
    stored = Administration.objects.get(
        episode=history.episode, session__number=2, instrument="ors"
    )
    assert stored.items == pytest.approx(ORS_EXPECTED) and stored.total == pytest.approx(ORS_TOTAL)
    history.episode.refresh_from_db()
    expect(page.get_by_test_id("ors-zone")).to_have_text(ZONE_TEXT[history.episode.zone])
    # A gain from 18 to 38.2 by session 2 is far above any expected trajectory.
    assert history.episode.zone == "green"

    srs = fieldset(page, "Session Rating Scale")
    enter_by_keyboard(page, srs, SRS_KEYS)
    tab_until_focused(page, page.get_by_role("button", name="Save SRS"))
    page.keyboard.press("Space")
    prompt = page.get_by_test_id("alliance-prompt")
    expect(prompt).to_contain_text("below 36")
    assert prompt.get_attribute("role") in {"status", "alert"}
    srs_stored = Administration.objects.get(
        episode=history.episode, session__number=2, instrument="srs"
    )
    assert srs_stored.total == pytest.approx(SRS_TOTAL)
    expect(
        page.locator('[data-testid="progress-graph"] circle.srs-point[data-session="2"]')
    ).to_have_attribute("data-score", "35.5")

    page.goto(client_url)
    page.get_by_role("link", name="Close episode…").click()
    page.get_by_label("Planned / mutual").check()
    page.get_by_role("button", name="Close episode").click()
    expect(page.get_by_text("Episode closed")).to_be_visible()
    history.episode.refresh_from_db()
    assert history.episode.ending == "planned" and history.episode.end_date is not None

    # Another therapist of the same agency, then one of another agency: 404, never 403.
    for outsider in (personas.theo, personas.oscar):
        log_out(page)
        log_in(page, outsider.username)
        for url in (client_url, f"{client_url}sessions/2/"):
            response = page.goto(url)
            assert response is not None and response.status == 404, (outsider.username, url)


def test_the_ors_form_saves_with_a_plain_post_when_javascript_is_off(
    no_js_context, personas
) -> None:
    history = record_history(personas.tara, "N0JS", [(22.0, 39.0)])
    page = no_js_context.new_page()
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{history.client.public_id}/")
    page.get_by_role("button", name="Start today's session").click()
    page.wait_for_url(re.compile(r"/sessions/2/$"))

    ors = fieldset(page, "Outcome Rating Scale")
    for label, value in (
        ("Individually", "4"),
        ("Interpersonally", "5.5"),
        ("Socially", "6"),
        ("Overall", "3.5"),
    ):
        slider_in(ors, label).fill(value)
    # Without JavaScript the sliders' starting spot is not a rating: the client confirms.
    ors.get_by_label("I have set every line myself").check()
    with page.expect_navigation():
        ors.get_by_role("button", name="Save ORS").click()

    stored = Administration.objects.get(
        episode=history.episode, session__number=2, instrument="ors"
    )
    assert stored.total == pytest.approx(19.0)
    expect(page.locator('circle.ors-point[data-session="2"]')).to_have_attribute(
        "data-score", "19.0"
    )
    history.episode.refresh_from_db()
    expect(page.get_by_test_id("ors-zone")).to_have_text(ZONE_TEXT[history.episode.zone])


def test_screenshots_of_a_realistic_caseload_and_client_page(page: Page, personas) -> None:
    featured = record_history(
        personas.tara,
        "R2D4",
        # intake (grey), slow start (orange), a setback (red), then recovery (green)
        [
            (14.5, 33.0),
            (15.0, 35.5),
            (12.0, 34.0),
            (19.5, 37.0),
            (24.0, 38.5),
            (27.5, 39.0),
            (29.0, 39.5),
        ],
    )
    others: list[ClientHistory] = [
        record_history(personas.tara, "B7K1", [(21.0, 38.0), (16.5, 34.0), (15.0, 33.0)]),
        record_history(personas.tara, "C3M9", [(12.0, 37.0), (13.5, 38.0), (14.5, 38.0)]),
        record_history(personas.tara, "F5T2", [(23.0, 39.0)]),
        record_history(personas.tara, "J8P6", [(17.0, 36.5), (25.5, 39.0), (31.0, 39.5)]),
    ]
    log_in(page, personas.tara.username)
    histories = [featured, *others]
    for history in histories:
        history.episode.refresh_from_db()
    table = page.get_by_role("table")
    codes = [link.inner_text().strip() for link in table.get_by_role("link").all()]
    mine = [code for code in codes if code in {h.client.display_code for h in histories}]
    assert sorted(mine) == sorted(h.client.display_code for h in histories)
    zone_of = {h.client.display_code: h.episode.zone for h in histories}
    rank = {"red": 0, "orange": 1, "grey": 2, "green": 3}
    ranks = [rank[zone_of[code]] for code in mine]
    assert ranks == sorted(ranks), f"caseload not ordered red, orange, grey, green: {mine}"
    assert {"red", "green"} <= set(zone_of.values()), f"history lacks contrast: {zone_of}"
    for code in mine:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=code, exact=True))
        expect(row).to_contain_text(ZONE_TEXT[zone_of[code]].split(" ")[0])
    page.screenshot(path=screenshot_path("caseload.png"), full_page=True)

    page.get_by_role("link", name="R2D4").click()
    graph = page.get_by_test_id("progress-graph")
    expect(graph.locator("circle.ors-point")).to_have_count(7)
    expect(graph.locator("circle.srs-point")).to_have_count(7)
    point_classes = " ".join(
        point.get_attribute("class") or "" for point in graph.locator("circle.ors-point").all()
    )
    for zone in ("grey", "orange", "red", "green"):
        assert f"pg-colour-{zone}" in point_classes, f"no {zone} session in the featured history"
    expect(page.get_by_text(re.compile("Expected treatment response")).first).to_be_visible()
    page.screenshot(path=screenshot_path("client.png"), full_page=True)
    assert screenshot_path("client.png").stat().st_size > 10_000
    assert Episode.objects.get(pk=featured.episode.pk).session_count == 7
