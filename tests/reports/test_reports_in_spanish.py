"""The report pages and their PDFs in Spanish: comma decimals wherever a person reads a number,
and none of the catalog's English."""

from __future__ import annotations

import pytest

from tests.pdftext import pdf_text
from tests.web.test_spanish_catalog import english_phrases
from tests.web.test_spanish_numbers import COMMA_DECIMAL, DOT_DECIMAL, read


@pytest.mark.parametrize("path", ["/reports/effectiveness/", "/practice/"])
def test_a_spanish_report_page_writes_commas_and_no_catalog_english(client, history, path):
    client.force_login(history.personas.alice)
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="es")
    assert page.status_code == 200
    text = " ".join(read(page.content.decode()).text)
    assert COMMA_DECIMAL.search(text) and DOT_DECIMAL.findall(text) == []
    assert [phrase for phrase in english_phrases() if phrase in text] == []


def test_the_spanish_agency_pdf_writes_commas_and_no_catalog_english(client, history):
    client.force_login(history.personas.alice)
    response = client.get("/reports/effectiveness.pdf", HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200
    text = pdf_text(response.content)
    assert COMMA_DECIMAL.search(text) and DOT_DECIMAL.findall(text) == []
    assert [phrase for phrase in english_phrases() if phrase in text] == []
