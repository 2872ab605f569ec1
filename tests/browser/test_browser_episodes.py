"""Episodes end and begin again, in a real browser on a desktop and a touch phone (issue 17 §4):
closing asks for confirmation and the ending, a closed episode is reopened, a returning client
gets a new episode (also from "New client"), earlier episodes stay reachable, and the caseload
shows closed clients on request and finds them by search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from alliance.audit.models import AuditEvent
from alliance.care import services
from alliance.care.models import Client
from tests.browser.fixtures import DESKTOP, TIMEOUT_MS
from tests.browser.helpers import log_in, record_history
from tests.browser.test_feedback_client_forms import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": (DESKTOP, False), "phone": (PHONE, True)}


@pytest.fixture(params=sorted(VIEWPORTS))
def device(request, browser: Browser, live_server) -> Iterator[tuple[Page, bool]]:
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
    yield context.new_page(), touch
    context.close()


def press(target: Locator, touch: bool) -> None:
    """A tap on the phone, a click on the desktop."""
    if touch:
        target.tap()
    else:
        target.click()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_an_episode_is_closed_after_confirmation_reopened_and_begun_again(device, personas):
    page, touch = device
    history = record_history(personas.tara, "EP-RET-1", [(18.0, 30.0), (22.0, 36.0)])
    episode = history.episode
    log_in(page, personas.tara.username)
    page.goto(f"/clients/{history.client.public_id}/")

    # Closing asks first: the link leads to a page that closes nothing by itself.
    press(page.get_by_role("link", name="Close episode…"), touch)
    expect(page.get_by_role("heading", name="Close the episode of EP-RET-1?")).to_be_visible()
    episode.refresh_from_db()
    assert episode.is_open
    assert_accessible(page)
    no_sideways_scroll(page)
    press(page.get_by_role("button", name="Close episode"), touch)  # no ending chosen yet
    expect(page.get_by_role("heading", name="Close the episode of EP-RET-1?")).to_be_visible()
    episode.refresh_from_db()
    assert episode.is_open
    press(page.get_by_label("Unilateral (drop-out)"), touch)
    press(page.get_by_role("button", name="Close episode"), touch)
    expect(page.get_by_text("Episode closed")).to_be_visible()
    episode.refresh_from_db()
    assert episode.ending == "unilateral" and episode.end_date is not None

    # Reopened within the agency's window (audited), then closed again as planned.
    press(page.get_by_role("button", name="Reopen this episode"), touch)
    expect(page.get_by_role("button", name="Start today's session")).to_be_visible()
    episode.refresh_from_db()
    assert episode.is_open
    assert AuditEvent.objects.filter(
        action="episode.reopened", target_id=episode.public_id
    ).exists()
    press(page.get_by_role("link", name="Close episode…"), touch)
    press(page.get_by_label("Planned / mutual"), touch)
    press(page.get_by_role("button", name="Close episode"), touch)
    expect(page.get_by_text("Episode closed")).to_be_visible()

    # The client returns: a new episode under the same code, the earlier one kept.
    press(page.get_by_role("button", name="Start a new episode"), touch)
    expect(page.get_by_role("button", name="Start today's session")).to_be_visible()
    episodes = page.get_by_test_id("episode-list")
    expect(episodes.get_by_role("listitem")).to_have_count(2)
    assert history.client.episodes.count() == 2
    current = history.client.current_episode
    assert current != episode and current.is_open
    assert_accessible(page)
    no_sideways_scroll(page)
    press(episodes.get_by_role("link"), touch)
    expect(page.get_by_text("An earlier episode (read only).")).to_be_visible()
    graph = page.locator('[data-testid="progress-graph"]')
    expect(graph.locator('circle[data-session="2"]').first).to_be_attached()
    expect(page.get_by_role("button", name="Start today's session")).to_have_count(0)
    press(page.get_by_role("link", name="Back to the current episode"), touch)
    expect(page.get_by_text("An earlier episode (read only).")).to_have_count(0)


def test_the_caseload_shows_closed_clients_on_request_and_search_finds_them(device, personas):
    page, touch = device
    gone = record_history(personas.tara, "EP-GONE-1", [(20.0, 37.0)])
    services.close_episode(personas.tara, gone.episode, "planned")
    log_in(page, personas.tara.username)
    rows = page.locator("table.caseload tbody")
    expect(page.get_by_role("link", name="R-TARA-1")).to_be_visible()
    expect(page.get_by_role("link", name="EP-GONE-1")).to_have_count(0)

    page.get_by_label("Show").select_option("closed")
    press(page.get_by_role("button", name="Filter"), touch)
    expect(rows.get_by_role("link", name="EP-GONE-1")).to_be_visible()
    expect(rows.get_by_role("link", name="R-TARA-1")).to_have_count(0)
    expect(rows.get_by_text("Closed ")).to_be_visible()
    assert_accessible(page)

    page.goto("/")
    page.get_by_label("Search").fill("gone")
    press(page.get_by_role("button", name="Filter"), touch)
    expect(rows.get_by_role("link", name="EP-GONE-1")).to_be_visible()

    # Adding the code again offers the client; a new episode puts them back on the caseload.
    page.goto("/clients/new/")
    page.get_by_label("Display code").fill("EP-GONE-1")
    press(page.get_by_role("button", name="Create client"), touch)
    offer = page.get_by_test_id("existing-client")
    expect(offer).to_contain_text("EP-GONE-1 is already a client.")
    expect(offer.get_by_role("link", name="Open EP-GONE-1")).to_be_visible()
    assert_accessible(page)
    press(offer.get_by_role("button", name="Start a new episode"), touch)
    expect(page.get_by_role("button", name="Start today's session")).to_be_visible()
    assert Client.objects.filter(display_code="EP-GONE-1").count() == 1
    page.goto("/")
    expect(rows.get_by_role("link", name="EP-GONE-1")).to_be_visible()
