"""A therapist who reads Spanish: the client page, its progress graph and the PDF report say
nothing in the catalog's English and write decimals with a comma."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from alliance.care.services import start_session
from tests.browser.fixtures import DESKTOP, TIMEOUT_MS
from tests.browser.helpers import record_history
from tests.pdftext import pdf_text
from tests.web.personas import PASSWORD
from tests.web.test_spanish_catalog import english_phrases

DOT_DECIMAL = re.compile(r"(?<![\d.,])\d+\.\d+(?![\d.,])")
COMMA_DECIMAL = re.compile(r"(?<![\d.,])\d+,\d+(?![\d.,])")


@pytest.fixture
def spanish_page(browser: Browser, live_server) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=live_server.url, viewport=DESKTOP, locale="es-ES"
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def english_in(text: str) -> list[str]:
    return [phrase for phrase in english_phrases() if phrase in text]


def test_a_spanish_therapist_reads_the_graph_and_the_pdf_in_spanish(spanish_page: Page, personas):
    page = spanish_page
    history = record_history(
        personas.tara,
        "ES4R",
        [(14.5, 33.0), (15.5, 35.5), (12.0, 34.5), (19.5, 37.5), (24.5, 38.5)],
    )
    page.goto("/login/")
    page.locator("#id_username").fill(personas.tara.username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.get_by_role("link", name="ES4R").click()

    graph = page.get_by_test_id("progress-graph")
    expect(graph.locator("circle.ors-point")).to_have_count(5)
    # Everything the graph says: labels, legend, tooltips and the description read out.
    said = graph.evaluate(
        "svg => Array.from(svg.querySelectorAll('text, title, desc'), e => e.textContent).join('\\n')"
    )
    assert "Sesión" in said and "24,5" in said
    assert DOT_DECIMAL.findall(said) == [] and english_in(said) == []
    scores = [p.get_attribute("data-score") for p in graph.locator("circle.ors-point").all()]
    assert "24.5" in scores  # what scripts read keeps the dot
    body = page.locator("main").inner_text()
    assert DOT_DECIMAL.findall(body) == [] and english_in(body) == []

    # The browser downloads the report as a person would (with its Spanish Accept-Language).
    with page.expect_download() as download:
        page.get_by_role("link", name="Informe de evolución imprimible (PDF)").click()
    saved = download.value.path()
    text = pdf_text(Path(saved).read_bytes())
    assert "Informe de evolución: ES4R" in text and "Señales" in text
    assert COMMA_DECIMAL.search(text) and DOT_DECIMAL.findall(text) == []
    assert english_in(text) == []
    assert history.episode.alerts.exists()  # the report's signals were said in Spanish too


def test_the_live_values_of_a_spanish_form_use_a_comma_and_send_a_dot(spanish_page: Page, personas):
    page = spanish_page
    history = record_history(personas.tara, "ES5L", [(20.0, 38.0)])
    session = start_session(personas.tara, history.client)
    page.goto("/login/")
    page.locator("#id_username").fill(personas.tara.username)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.goto(f"/clients/{history.client.public_id}/sessions/{session.number}/")
    line = page.locator("form.instrument-form .vas input[type=range]").first
    line.focus()
    line.press("ArrowRight")
    shown = page.locator(f'output[for="{line.get_attribute("id")}"]')
    expect(shown).to_have_text("5,1")
    assert (line.get_attribute("aria-valuetext") or "").startswith("5,1")
    assert line.input_value() == "5.1"  # what the form sends
