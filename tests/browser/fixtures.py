"""Real-browser fixtures: Playwright's sync API driving Debian's Chromium against pytest-django's
live server.

Registered once for the whole run by ``pytest_plugins`` in the repository's conftest.py, so every
test directory shares one Playwright driver (a second sync driver in the same thread fails).

Never ``playwright install``: the browser is the distribution's ``/usr/bin/chromium``. When it is
missing the tests fail with a message saying so; they are never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API keeps an asyncio loop running in this thread; Django would otherwise
# refuse ORM calls from the test body ("You cannot call this from an async context").
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
# Generous enough for a loaded CI machine, short enough that a missing element fails quickly.
TIMEOUT_MS = 10_000


def require_chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's Chromium is missing at {CHROMIUM}: install it with "
            "'apt-get install chromium' (browser tests are never skipped)",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    executable = require_chromium()
    launched = playwright_driver.chromium.launch(
        executable_path=str(executable), args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


def new_context(browser: Browser, base_url: str, *, javascript: bool = True) -> BrowserContext:
    context = browser.new_context(
        base_url=base_url, viewport=DESKTOP, java_script_enabled=javascript, locale="en-GB"
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    opened = new_context(browser, live_server.url)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def no_js_context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    opened = new_context(browser, live_server.url, javascript=False)
    yield opened
    opened.close()
