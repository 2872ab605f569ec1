"""Client-facing forms in Debian's Chromium (issue 4): links (valid, reused, expired, revoked,
tampered), live update of the therapist's page, kiosk, a child's form, two raters, a group GSRS,
the Spanish UI, axe-core accessibility checks, page weight and the no-JavaScript path.
"""

from __future__ import annotations

import datetime
import re
import time
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from alliance.care import services
from alliance.care.models import Administration
from alliance.feedback import services as feedback
from alliance.feedback.models import FeedbackLink
from tests.browser.fixtures import DESKTOP, TIMEOUT_MS
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PHONE = {"width": 390, "height": 844}
PAGE_BUDGET = 60 * 1024


def new_context(browser: Browser, base_url: str, *, javascript: bool = True):
    """As tests/browser/fixtures.py, but axe-core may be injected despite the CSP (tests only)."""
    context = browser.new_context(
        base_url=base_url,
        viewport=DESKTOP,
        java_script_enabled=javascript,
        locale="en-GB",
        bypass_csp=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core (installed from the npm registry by scripts/bootstrap) inside the page."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/bootstrap (npm ci)", pytrace=False)
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(" "))}));
        }""",
        AXE_TAGS,
    )


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], violations


def slider(root: Page | Locator, name: str) -> Locator:
    return root.get_by_role("slider", name=re.compile(rf"^{re.escape(name)}"))


def rate_by_keyboard(
    page: Page, plan: dict[str, tuple[str, ...]], root: Page | Locator | None = None
) -> None:
    for label, keys in plan.items():
        slider(root or page, label).focus()
        for key in keys:
            page.keyboard.press(key)


# End = 10.0, PageDown = -1.0, ArrowLeft = -0.1 (Chromium's range keys).
ORS_PLAN = {
    "Individually": ("End", "PageDown", "PageDown"),  # 8.0
    "Interpersonally": ("End", "PageDown", "PageDown", "PageDown"),  # 7.0
    "Socially": ("End", "PageDown"),  # 9.0
    "Overall": ("End", "PageDown", "PageDown", "ArrowLeft", "ArrowLeft"),  # 7.8
}
ORS_PLAN_TOTAL = 31.8


def tara_session(personas):
    return services.start_session(personas.tara, personas.tara_client)


def test_a_link_flow_with_valid_reused_expired_revoked_and_tampered_tokens(
    browser: Browser, live_server, personas
) -> None:
    session = tara_session(personas)
    valid = feedback.create_link(personas.tara, session, instrument="ors")
    client = new_context(browser, live_server.url)
    page = client.new_page()
    page.goto(f"/f/{valid.token}/")
    expect(page.get_by_role("group", name="Outcome Rating Scale")).to_be_visible()
    expect(page.get_by_text("not yet rated").first).to_be_visible()
    # Sending before every line was moved is blocked, and says why.
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Please move every line")).to_be_visible()
    assert not Administration.objects.exists()
    rate_by_keyboard(page, ORS_PLAN)
    assert slider(page, "Overall").get_attribute("aria-valuetext") == "7.8 / 10"
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    stored = Administration.objects.get()
    assert stored.total == pytest.approx(ORS_PLAN_TOTAL) and stored.session == session

    page.goto(f"/f/{valid.token}/")
    expect(page.get_by_role("heading", name="This form was already sent")).to_be_visible()

    expired = feedback.create_link(personas.tara, session, instrument="srs")
    FeedbackLink.objects.filter(pk=expired.link.pk).update(
        expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    page.goto(f"/f/{expired.token}/")
    expect(page.get_by_role("heading", name="This link has expired")).to_be_visible()

    revoked = feedback.create_link(personas.tara, session, instrument="srs")
    feedback.revoke_link(personas.tara, revoked.link)
    page.goto(f"/f/{revoked.token}/")
    expect(page.get_by_role("heading", name="This link was withdrawn")).to_be_visible()

    fresh = feedback.create_link(personas.tara, session, instrument="srs")
    page.goto(f"/f/{fresh.token[:-2]}xx/")
    expect(page.get_by_role("heading", name="This link is not valid")).to_be_visible()
    for heading in page.get_by_text("Nothing was saved from this page.").all():
        expect(heading).to_be_visible()
    assert Administration.objects.count() == 1
    client.close()


def test_a_submission_by_link_appears_on_the_open_session_page_without_a_reload(
    browser: Browser, live_server, personas
) -> None:
    therapist = new_context(browser, live_server.url)
    page = therapist.new_page()
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{personas.tara_client.public_id}/")
    page.get_by_role("button", name="Start today's session").click()
    page.wait_for_url(re.compile(r"/sessions/1/$"))
    session_url = page.url
    page.get_by_label("How").select_option("show")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("img", name="QR code of the link")).to_be_visible()
    url = page.get_by_test_id("link-url").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/f/[A-Za-z0-9_-]{{43}}/", url)
    # "Link ready" is a page of its own (redirect after post): a reload makes no other link.
    assert re.search(r"/f/links/[0-9a-f]+/$", page.url) and url.rsplit("/", 2)[1] not in page.url
    page.reload()
    assert page.get_by_test_id("link-url").input_value() == url
    assert FeedbackLink.objects.count() == 1
    page.goto(session_url)
    page.evaluate("window.allianceNoReload = true")
    expect(page.get_by_test_id("link-row")).to_contain_text("Waiting")

    phone = new_context(browser, live_server.url)
    client_page = phone.new_page()
    client_page.goto(url)
    rate_by_keyboard(client_page, ORS_PLAN)
    client_page.get_by_role("button", name="Send").click()
    expect(client_page.get_by_role("heading", name="Thank you")).to_be_visible()

    # The open page polls and redraws: the client's score and graph point arrive in place.
    point = page.locator('[data-testid="progress-graph"] circle.ors-point[data-session="1"]')
    expect(point).to_have_attribute("data-score", "31.8", timeout=15_000)
    expect(page.get_by_test_id("link-row")).to_contain_text("Completed")
    assert page.evaluate("window.allianceNoReload === true"), "the page was reloaded"
    phone.close()
    therapist.close()


def test_a_kiosk_code_and_pin_open_only_that_form_on_the_tablet(
    browser: Browser, live_server, personas
) -> None:
    session = tara_session(personas)
    therapist = new_context(browser, live_server.url)
    page = therapist.new_page()
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{personas.tara_client.public_id}/sessions/{session.number}/")
    page.get_by_label("Waiting-room tablet").select_option("srs")
    page.get_by_role("button", name="Create kiosk code").click()
    code = page.get_by_test_id("kiosk-code").inner_text()
    pin = page.get_by_test_id("kiosk-pin").inner_text()
    kiosk_url = page.get_by_test_id("kiosk-url").inner_text()

    tablet = new_context(browser, live_server.url)
    screen = tablet.new_page()
    screen.set_viewport_size({"width": 820, "height": 1180})
    screen.goto(kiosk_url)
    assert_accessible(screen)
    screen.get_by_label("Code").fill(code)
    screen.get_by_label("PIN").fill("0000" if pin != "0000" else "1111")
    screen.get_by_role("button", name="Open my form").click()
    expect(screen.get_by_role("alert")).to_contain_text("do not match")
    screen.get_by_label("Code").fill(code)
    screen.get_by_label("PIN").fill(pin)
    screen.get_by_role("button", name="Open my form").click()
    expect(screen.get_by_role("group", name="Session Rating Scale")).to_be_visible()
    body = screen.locator("body").inner_text()
    for other in ("R-TARA-1", "R-THEO-1", "Caseload", "Log out"):
        assert other not in body
    rate_by_keyboard(
        screen,
        {
            "Relationship": ("End",),
            "Goals and Topics": ("End",),
            "Approach or Method": ("End", "PageDown"),
            "Overall": ("End",),
        },
    )
    screen.get_by_role("button", name="Send").click()
    # Straight back to the code entry for the next client, with a thank-you for this one.
    expect(screen.get_by_test_id("kiosk-thanks")).to_be_visible()
    expect(screen.get_by_label("Code")).to_be_visible()
    assert Administration.objects.get(instrument="srs").total == pytest.approx(39.0)
    tablet.close()
    therapist.close()


def test_a_child_form_has_faces_and_a_young_childs_form_says_it_is_not_validated(
    browser: Browser, live_server, personas
) -> None:
    child = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="KID-B1",
        therapist=personas.tara,
        age_band="child",
    )
    young = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="KID-B2",
        therapist=personas.tara,
        age_band="young_child",
    )
    cors = feedback.create_link(
        personas.tara, services.start_session(personas.tara, child), instrument="cors"
    )
    ycors = feedback.create_link(
        personas.tara, services.start_session(personas.tara, young), instrument="ycors"
    )
    context = new_context(browser, live_server.url)
    page = context.new_page()
    page.set_viewport_size(PHONE)
    page.goto(f"/f/{cors.token}/")
    expect(page.get_by_role("group", name="Child Outcome Rating Scale")).to_be_visible()
    assert page.locator("svg.face").count() == 8
    assert page.get_by_text("not statistically validated").count() == 0
    assert_accessible(page)
    rate_by_keyboard(
        page,
        {
            "Me": ("End",),
            "Family": ("End", "PageDown"),
            "School": ("Home",),
            "Everything": ("End",),
        },
    )
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    assert Administration.objects.get(instrument="cors").total == pytest.approx(29.0)

    page.goto(f"/f/{ycors.token}/")
    # A child's screen shows the child's wording and faces only: no clinician notes.
    expect(page.get_by_text("not statistically validated")).to_have_count(0)
    expect(page.locator(".copyright")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    face = page.locator(".vas.pictorial svg.face").first.bounding_box()
    assert face is not None and face["width"] >= 44
    assert_accessible(page)
    context.close()


def test_a_couple_episode_cycles_through_two_raters_and_draws_two_lines(
    browser: Browser, live_server, personas
) -> None:
    context = new_context(browser, live_server.url)
    page = context.new_page()
    couple = services.create_client(
        personas.tara,
        personas.riverside,
        display_code="CPL-B",
        therapist=personas.tara,
        raters=["partner"],
    )
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{couple.public_id}/")
    page.get_by_role("button", name="Start today's session").click()
    page.wait_for_url(re.compile(r"/sessions/1/$"))
    expect(page.get_by_test_id("ors-rater-now")).to_have_text("Rater: Client (1 of 2)")
    ors = page.get_by_role("group", name="Outcome Rating Scale")
    rate_by_keyboard(page, ORS_PLAN, ors)
    page.get_by_role("button", name="Save ORS").click()
    expect(page.get_by_test_id("ors-rater-now")).to_have_text("Rater: Partner (2 of 2)")
    # The partner skips for now and comes back: the flow wraps around to the client.
    page.get_by_test_id("skip-rater").click()
    expect(page.get_by_test_id("ors-rater-now")).to_have_text("Rater: Client (1 of 2)")
    page.get_by_test_id("skip-rater").click()
    rate_by_keyboard(
        page,
        {
            "Individually": ("Home", "PageUp", "PageUp", "PageUp"),  # 3.0
            "Interpersonally": ("Home", "PageUp", "PageUp"),  # 2.0
            "Socially": ("Home", "PageUp", "PageUp", "PageUp", "PageUp"),  # 4.0
            "Overall": ("Home", "PageUp", "PageUp", "PageUp"),  # 3.0
        },
        ors,
    )
    page.get_by_role("button", name="Save ORS").click()
    legend = page.locator('[data-testid="progress-graph"] .pg-legend')
    expect(legend.filter(has_text="Partner")).to_have_count(1)
    expect(legend.filter(has_text="Client")).to_have_count(1)
    totals = dict(Administration.objects.values_list("rater", "total"))
    assert totals == pytest.approx({"client": ORS_PLAN_TOTAL, "partner": 12.0})
    context.close()


def test_a_group_leader_collects_the_gsrs_from_each_member(
    browser: Browser, live_server, personas
) -> None:
    context = new_context(browser, live_server.url)
    page = context.new_page()
    second = services.create_client(
        personas.tara, personas.riverside, display_code="GRP-B2", therapist=personas.tara
    )
    log_in(page, personas.tara.username)
    page.get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="New group").click()
    page.get_by_label("Name").fill("Thursday")
    page.get_by_label("R-TARA-1").check()
    page.get_by_label("GRP-B2").check()
    page.get_by_role("button", name="Create group").click()
    page.get_by_role("link", name=re.compile("End of today's group")).click()
    gsrs = {"Relationship": ("End",), "Goals and Topics": ("End",), "Approach or Method": ("End",)}
    for last in (("End",), ("End", "PageDown")):  # totals 40.0, then 39.0
        expect(page.get_by_role("group", name="Group Session Rating Scale")).to_be_visible()
        expect(page.get_by_role("link", name="Log out")).to_have_count(0)
        labels = page.locator(".vas label").all_inner_texts()
        plan = {
            name.split("\n")[0]: keys for name, keys in zip(labels[:3], gsrs.values(), strict=True)
        }
        plan[labels[3].split("\n")[0]] = last
        rate_by_keyboard(page, plan)
        page.get_by_role("button", name="Save and next").click()
    expect(page.get_by_role("heading", name="Thursday")).to_be_visible()
    rows = page.get_by_test_id("group-row")
    expect(rows).to_have_count(2)
    totals = sorted(
        Administration.objects.filter(instrument="gsrs").values_list("total", flat=True)
    )
    assert totals == [39.0, 40.0]
    assert second.pk in set(
        Administration.objects.filter(instrument="gsrs").values_list("episode__client", flat=True)
    )
    context.close()


def test_the_whole_ui_and_the_client_form_switch_to_spanish(
    browser: Browser, live_server, personas
) -> None:
    session = tara_session(personas)
    context = new_context(browser, live_server.url)
    page = context.new_page()
    log_in(page, personas.tara.username)
    page.get_by_label("Language").select_option("es")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", name="Casos")).to_be_visible()
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "es"
    page.goto(f"/clients/{personas.tara_client.public_id}/sessions/{session.number}/")
    expect(page.get_by_role("button", name="Pasar al cliente: ORS", exact=True)).to_be_visible()
    link = feedback.create_link(personas.tara, session, instrument="ors")
    client = new_context(browser, live_server.url)
    client_page = client.new_page()
    client_page.goto(f"/f/{link.token}/")
    client_page.get_by_label("Language").select_option("es")
    client_page.get_by_role("button", name="Change").click()
    expect(client_page.get_by_role("button", name="Enviar")).to_be_visible()
    expect(client_page.get_by_text("aún sin valorar").first).to_be_visible()
    assert_accessible(client_page)
    client.close()
    context.close()


def test_the_client_form_is_accessible_light_and_quick_on_a_phone(
    browser: Browser, live_server, personas
) -> None:
    session = tara_session(personas)
    link = feedback.create_link(personas.tara, session, instrument="ors")
    context = new_context(browser, live_server.url)
    page = context.new_page()
    page.set_viewport_size(PHONE)
    sizes: list[int] = []
    paths: list[str] = []

    def measure(response) -> None:
        headers = sum(len(k) + len(v) + 4 for k, v in response.headers.items())
        body = 0 if 300 <= response.status < 400 else len(response.body())
        sizes.append(headers + body)
        assert response.url.startswith(live_server.url), response.url  # nothing from elsewhere
        paths.append(response.url.removeprefix(live_server.url).split("?")[0])

    page.on("response", measure)
    started = time.monotonic()
    page.goto(f"/f/{link.token}/")
    page.wait_for_load_state("networkidle")
    page.remove_listener("response", measure)
    weight = sum(sizes)
    # The page, one stylesheet, one script and the favicon, all from this server.
    # (Responses may arrive in any order: the stylesheet can finish before the page does.)
    page_path = f"/f/{link.token}/"
    assert len(paths) == 4 and page_path in paths, paths
    files = sorted(path.rsplit(".", 1)[-1] for path in paths if path != page_path)
    assert files == ["css", "js", "svg"], paths
    assert weight < PAGE_BUDGET, f"the form page transferred {weight} bytes"
    assert_accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Touch targets: every slider and button is at least 44 px high.
    for control in page.locator("input[type=range], button").all():
        box = control.bounding_box()
        assert box is not None and box["height"] >= 44, control
    # A client taps each line once and sends: four taps and one more.
    for index, line in enumerate(page.locator("input[type=range]").all()):
        box = line.bounding_box()
        assert box is not None
        page.mouse.click(
            box["x"] + box["width"] * (0.3 + 0.1 * index), box["y"] + box["height"] / 2
        )
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    elapsed = time.monotonic() - started
    print(f"ORS by link on 390x844: {weight} bytes, {elapsed:.1f} s of browser time")
    assert Administration.objects.get().entry_mode == "link"
    context.close()


def test_the_vas_line_is_ten_centimetres_wide_where_the_screen_allows(
    browser: Browser, live_server, personas
) -> None:
    link = feedback.create_link(personas.tara, tara_session(personas), instrument="ors")
    context = new_context(browser, live_server.url)
    page = context.new_page()
    page.goto(f"/f/{link.token}/")
    width = slider(page, "Individually").bounding_box()["width"]
    # CSS: 1 cm = 96 px / 2.54 = 37.8 px, so 10 cm = 378 px.
    assert width == pytest.approx(378, abs=1)
    context.close()


def test_the_client_form_works_with_javascript_disabled(
    browser: Browser, live_server, personas
) -> None:
    link = feedback.create_link(personas.tara, tara_session(personas), instrument="ors")
    context = new_context(browser, live_server.url, javascript=False)
    page = context.new_page()
    page.goto(f"/f/{link.token}/")
    for label, value in (
        ("Individually", "4"),
        ("Interpersonally", "5.5"),
        ("Socially", "6"),
        ("Overall", "3.5"),
    ):
        slider(page, label).fill(value)
    # Without JavaScript the client confirms that every line was set on purpose.
    page.get_by_role("button", name="Send").click()
    assert not Administration.objects.exists()  # the browser refuses the unticked, required box
    page.get_by_label("I have set every line myself").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    assert Administration.objects.get().total == pytest.approx(19.0)
    context.close()
