"""Numbers follow the page's language: a Spanish page writes decimals with a comma everywhere a
person reads them (text, graph, tooltips, the PDF), while form values, data- attributes, the API
and the CSV exports keep the dot that scripts and parsers read."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from django.test import Client as Browser
from django.urls import reverse
from django.utils import translation

from alliance.care import svg
from tests.browser.helpers import record_history
from tests.pdftext import pdf_text

DOT_DECIMAL = re.compile(r"(?<![\d.,])\d+\.\d+(?![\d.,])")
COMMA_DECIMAL = re.compile(r"(?<![\d.,])\d+,\d+(?![\d.,])")
SCORES = [(14.5, 33.0), (15.5, 35.5), (12.0, 34.5), (19.5, 37.5), (24.5, 38.5)]


class _Visible(HTMLParser):
    """The text a person reads (SVG text and tooltips included) and every attribute apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._hidden += 1
        self.attributes += [(tag, name, value or "") for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def read(html: str) -> _Visible:
    reader = _Visible()
    reader.feed(html)
    reader.close()
    return reader


def spanish(user) -> Browser:
    browser = Browser(HTTP_ACCEPT_LANGUAGE="es")
    browser.force_login(user)
    return browser


def test_figure_writes_the_active_languages_decimal_separator_and_never_minus_zero():
    with translation.override("es"):
        assert svg.figure(24.5, 1) == "24,5" and svg.figure(36.0) == "36"
        assert svg.figure(-0.001, 2) == "0,00" and svg.figure(1234.5, 1) == "1234,5"
    with translation.override("en"):
        assert svg.figure(24.5, 1) == "24.5" and svg.figure(0.25) == "0.25"
    assert svg.num(24.5) == "24.5"  # coordinates never change


def test_a_spanish_client_page_writes_commas_to_people_and_dots_to_machines(personas):
    history = record_history(personas.tara, "ES7N", SCORES)
    page = spanish(personas.tara).get(reverse("client", args=[history.client.public_id]))
    assert page.status_code == 200
    seen = read(page.content.decode())
    text = " ".join(seen.text)
    assert "24,5" in text and DOT_DECIMAL.findall(text) == []
    scores = [value for _tag, name, value in seen.attributes if name == "data-score"]
    assert "24.5" in scores and not any("," in value for value in scores)
    values = [v for tag, name, v in seen.attributes if tag == "input" and name == "value"]
    assert not any(COMMA_DECIMAL.search(value) for value in values)


def test_a_spanish_session_page_shows_the_saved_total_with_a_comma_and_sends_dots(personas):
    history = record_history(personas.tara, "ES8N", SCORES)
    url = reverse("session", args=[history.client.public_id, len(SCORES)])
    page = spanish(personas.tara).get(url)
    assert page.status_code == 200
    seen = read(page.content.decode())
    text = " ".join(seen.text)
    assert "24,5" in text and DOT_DECIMAL.findall(text) == []
    machine = [
        value
        for tag, name, value in seen.attributes
        if name == "value" or name.startswith("data-") or (tag == "input" and name in "minmaxstep")
    ]
    assert not any(COMMA_DECIMAL.search(value) for value in machine)


def test_the_spanish_progress_pdf_writes_commas_and_no_english_catalog_string(personas):
    from tests.web.test_spanish_catalog import english_phrases

    history = record_history(personas.tara, "ES9N", SCORES)
    response = spanish(personas.tara).get(
        reverse("reports:client_pdf", args=[history.client.public_id])
    )
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert "Informe de evolución" in text and "24,5" in text
    assert DOT_DECIMAL.findall(text) == []
    assert [phrase for phrase in english_phrases() if phrase in text] == []


def test_the_english_progress_pdf_keeps_dots(personas):
    history = record_history(personas.tara, "EN9N", SCORES)
    browser = Browser(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(personas.tara)
    response = browser.get(reverse("reports:client_pdf", args=[history.client.public_id]))
    text = pdf_text(response.content)
    assert "Progress report" in text and "24.5" in text and COMMA_DECIMAL.findall(text) == []


def test_api_messages_follow_accept_language_and_codes_stay(personas):
    from alliance.api.services import create_token

    token = create_token(personas.tara).secret
    url = "/api/v1/clients/no-such-client"
    answers = {
        language: Browser().get(
            url, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT_LANGUAGE=language
        )
        for language in ("en", "es")
    }
    assert {a.status_code for a in answers.values()} == {404}
    assert answers["en"].json() == {
        "code": "not_found",
        "message": "not found (or not visible to this token)",
    }
    assert answers["es"].json() == {
        "code": "not_found",
        "message": "no encontrado (o no visible para este token)",
    }


def test_dates_follow_the_language_spanish_day_first_english_iso(personas):
    history = record_history(personas.tara, "ES6D", SCORES)
    start = history.episode.start_date
    url = reverse("client", args=[history.client.public_id])
    es = " ".join(read(spanish(personas.tara).get(url).content.decode()).text)
    english = Browser(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(personas.tara)
    en = " ".join(read(english.get(url).content.decode()).text)
    assert start.strftime("%d/%m/%Y") in es and start.isoformat() not in es
    assert start.isoformat() in en


def test_the_error_pages_speak_the_requests_language(personas):
    from django.template.loader import render_to_string

    with translation.override("es"):
        assert "Algo ha fallado" in render_to_string("500.html")
        assert "Solicitud incorrecta" in render_to_string("400.html")
    refused = spanish(personas.tara).get(reverse("reports:dashboard"))
    assert refused.status_code == 403 and "No permitido" in refused.content.decode()
    missing = spanish(personas.tara).get("/clients/no-such-client/")
    assert missing.status_code == 404 and "No encontrado" in missing.content.decode()
