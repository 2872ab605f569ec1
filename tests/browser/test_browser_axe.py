"""axe-core on every main page, as the role that uses it, at the desktop and the phone viewport
(issue 17: axe runs in CI on every page at both viewports). The pages are the catalogue of
tests/web/main_pages.py, which the structural page test (ids, names, table regions) reads too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client as DjangoClient
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.fixtures import DESKTOP, TIMEOUT_MS
from tests.browser.test_feedback_client_forms import axe_violations
from tests.web.main_pages import MainPage, build_main_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": (DESKTOP, False), "phone": (PHONE, True)}


def open_context(browser: Browser, base_url: str, viewport: str) -> BrowserContext:
    size, touch = VIEWPORTS[viewport]
    context = browser.new_context(
        base_url=base_url,
        viewport=size,
        has_touch=touch,
        locale="en-GB",
        bypass_csp=True,  # axe-core is injected as a script (tests only)
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture
def signed_in(browser: Browser, live_server, personas, viewport) -> Iterator[dict]:
    """One browser context per actor (None: a client without an account)."""
    opened: dict = {}

    def context_for(actor: str | None) -> BrowserContext:
        if actor not in opened:
            context = open_context(browser, live_server.url, viewport)
            if actor is not None:
                django = DjangoClient()
                django.force_login(getattr(personas, actor))
                cookie = django.cookies[settings.SESSION_COOKIE_NAME]
                context.add_cookies(
                    [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
                )
            opened[actor] = context
        return opened[actor]

    yield {"context_for": context_for}
    for context in opened.values():
        context.close()


def visit(page: Page, main: MainPage) -> None:
    if main.kiosk is not None:
        kiosk_path, code, pin = main.kiosk
        page.goto(kiosk_path)
        page.get_by_label("Code").fill(code)
        page.get_by_label("PIN").fill(pin)
        page.get_by_role("button", name="Open my form").click()
        page.wait_for_url(f"**{main.path}")
    else:
        response = page.goto(main.path)
        assert response is not None and response.status == 200, (main.name, response)
    page.wait_for_load_state("load")


def test_axe_finds_nothing_on_any_main_page(personas, signed_in, viewport) -> None:
    pages = build_main_pages(personas)
    found: dict[str, list[dict]] = {}
    overflow: list[str] = []
    for main in pages:
        page = signed_in["context_for"](main.actor).new_page()
        visit(page, main)
        assert "/login/" not in page.url or main.actor is None, main.name
        if page.evaluate("document.documentElement.scrollWidth") > page.viewport_size["width"]:
            overflow.append(main.name)
        violations = axe_violations(page)
        if violations:
            found[main.name] = violations
        page.close()
    assert len(pages) >= 25
    assert found == {}, f"{viewport}: {found}"
    # Pages that scroll sideways as a whole (a wide table scrolls inside its own region instead).
    assert overflow == [], f"{viewport}: {overflow}"
