"""Printable PDFs (WeasyPrint) and the report pictures (SVG with title and description)."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zlib

import pytest

from alliance.reports.charts import Estimate, calibration_svg, forest_svg, histogram_svg

SVG = "{http://www.w3.org/2000/svg}"


def page_count(pdf: bytes) -> int:
    """The /Count of the PDF's page tree, looking inside compressed object streams too."""
    chunks = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(stream))
        except zlib.error:
            continue
    for chunk in chunks:
        match = re.search(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", chunk, re.S)
        match = match or re.search(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", chunk, re.S)
        if match:
            return int(match.group(1))
    raise AssertionError("no page tree in the PDF")


def test_the_client_progress_report_renders_with_its_graph(client, history):
    p = history.personas
    tara_episode = next(e for e in history.episodes.values() if e.client.therapist_id == p.tara.pk)
    client.force_login(p.tara)
    response = client.get(f"/reports/clients/{tara_episode.client.public_id}/progress.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert page_count(response.content) >= 1


def test_the_client_report_is_404_for_a_client_the_user_may_not_see(client, history):
    p = history.personas
    client.force_login(p.olga)
    assert client.get(f"/reports/clients/{p.tara_client.public_id}/progress.pdf").status_code == 404
    client.force_login(p.theo)
    assert client.get(f"/reports/clients/{p.tara_client.public_id}/progress.pdf").status_code == 404


def test_the_agency_report_pdf_renders_on_several_pages(client, history):
    client.force_login(history.personas.alice)
    response = client.get("/reports/effectiveness.pdf?by=therapist_id")
    assert response.content.startswith(b"%PDF")
    assert page_count(response.content) >= 2


def parse(svg: str) -> ET.Element:
    return ET.parse(io.StringIO(svg)).getroot()


def test_a_forest_plot_places_intervals_on_a_shared_axis():
    svg = forest_svg(
        [Estimate("A", 0.5, 0.0, 1.0, 10), Estimate("B", 1.0, 0.5, 1.5, 20)],
        title="Effect sizes",
        axis_label="ES",
    )
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "Effect sizes"
    assert "A: 0.50 (95% interval 0.00 to 1.00, n = 10)" in root.find(f"{SVG}desc").text
    points = root.findall(f".//{SVG}circle")
    # Range 0..1.5 padded by 5% each side: -0.075..1.575 over x 170..690 (520 px).
    x = [float(c.get("cx")) for c in points]
    assert x[0] == pytest.approx(170 + 520 * (0.5 + 0.075) / 1.65, abs=0.01)
    assert x[1] == pytest.approx(170 + 520 * (1.0 + 0.075) / 1.65, abs=0.01)


def test_a_histogram_counts_values_into_bins_and_marks_reliable_change():
    svg = histogram_svg(
        [-6.0, -1.0, 0.5, 1.0, 7.0], title="Change", axis_label="points", bin_width=2.0,
        markers=[(-5, "reliable deterioration"), (5, "reliable improvement")],
    )  # fmt: skip
    root = parse(svg)
    bars = [r.find(f"{SVG}title").text for r in root.findall(f".//{SVG}rect")]
    # Bins of 2 from -6 to 8: -6..-4 holds 1, -2..0 holds 1, 0..2 holds 2, 6..8 holds 1.
    assert bars[0] == "-6 to -4: 1" and bars[2] == "-2 to 0: 1" and bars[3] == "0 to 2: 2"
    assert bars[-1] == "6 to 8: 1"
    assert "1 below reliable deterioration" in root.find(f"{SVG}desc").text


def test_the_calibration_plot_describes_every_group():
    svg = calibration_svg(
        [{"group": 1, "n": 10, "mean_predicted": 0.2, "observed_rate": 0.3}], title="Calibration"
    )
    root = parse(svg)
    assert "group 1: predicted 0.20, observed 0.30 (n = 10)" in root.find(f"{SVG}desc").text
    point = root.find(f".//{SVG}circle")
    assert (float(point.get("cx")), float(point.get("cy"))) == (60 + 300 * 0.2, 20 + 300 * 0.7)


def test_the_report_charts_describe_themselves_in_spanish_under_a_spanish_locale():
    from django.utils import translation

    with translation.override("es"):
        forest = parse(forest_svg([Estimate("A", 0.5, 0.0, 1.0, 10)], title="ES", axis_label="ES"))
        empty = parse(forest_svg([], title="ES", axis_label="ES"))
        histogram = parse(
            histogram_svg([-6.0, 1.0], title="Cambio", axis_label="puntos", markers=[(-5, "RC")])
        )
        calibration = parse(
            calibration_svg(
                [{"group": 1, "n": 10, "mean_predicted": 0.2, "observed_rate": 0.3}], title="Cal"
            )
        )
    assert forest.find(f"{SVG}desc").text == "A: 0,50 (intervalo del 95% de 0,00 a 1,00, n = 10)"
    assert empty.find(f"{SVG}desc").text == "Sin estimaciones."
    assert histogram.find(f"{SVG}desc").text == "2 valores de -6,0 a 1,0; 1 por debajo de RC"
    assert histogram.find(f".//{SVG}rect/{SVG}title").text == "de -6 a -4: 1"
    desc = calibration.find(f"{SVG}desc").text
    assert desc == "grupo 1: prevista 0,20, observada 0,30 (n = 10)"
    labels = {t.text for t in calibration.iter(f"{SVG}text")}
    assert {
        "calibración perfecta",
        "Probabilidad prevista de mejoría fiable",
        "Tasa observada",
    } <= labels
