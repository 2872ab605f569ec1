"""The progress graph SVG: structure, coordinates (hand-computed), escaping and edge cases.

Layout used for the hand-computed numbers (alliance/care/graph.py): sessions run from x = 56
(session 1) to x = 696 (last session shown); the outcome panel spans y = 24 (score 40) to
y = 264 (score 0); the alliance panel y = 320 (40) to y = 400 (0). With 9 sessions shown a
session is 640 / 8 = 80 units wide.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.care.graph import (
    GraphData,
    GraphDataError,
    GraphSeries,
    Scales,
    render_progress_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def make_data(**overrides: object) -> GraphData:
    values: dict[str, object] = {
        "outcome_series": [GraphSeries("Client", [(1, 18.0), (2, 20.0), (3, 24.5)])],
        "outcome_name": "Outcome Rating Scale",
        "outcome_max": 40.0,
        "outcome_cutoff": 25.0,
        "target": [(1, 18.0), (2, 21.0), (3, 23.0)],
        "negative": [(1, 18.0), (2, 19.0), (3, 20.0)],
        "colours": {1: "grey", 2: "orange", 3: "orange"},
        "alliance_points": [(1, 38.0), (2, 34.0)],
        "alliance_name": "Session Rating Scale",
        "alliance_max": 40.0,
        "alliance_cutoff": 36.0,
        "model_label": "Expected treatment response: default model",
        "provisional": True,
        "title": "Progress of client K7Q2",
    }
    values.update(overrides)
    return GraphData(**values)  # type: ignore[arg-type]


def parse(data: GraphData) -> ET.Element:
    return ET.fromstring(render_progress_svg(data))


def ors_points(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if "ors-point" in c.get("class", "").split()]


def srs_points(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if "srs-point" in c.get("class", "").split()]


def by_class(root: ET.Element, css: str) -> list[ET.Element]:
    return [e for e in root.iter() if css in e.get("class", "").split()]


def point_pairs(points_attribute: str) -> list[tuple[float, float]]:
    pairs = [pair.split(",") for pair in points_attribute.split()]
    return [(float(x), float(y)) for x, y in pairs]


def test_it_renders_well_formed_svg_with_role_title_desc_and_test_id() -> None:
    root = parse(make_data())
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("data-testid") == "progress-graph"
    assert root.get("viewBox", "").startswith("0 0 720 ")
    children = [child.tag for child in root]
    assert children[:2] == [f"{SVG}title", f"{SVG}desc"]
    assert root.find(f"{SVG}title").text == "Progress of client K7Q2"  # type: ignore[union-attr]


def test_it_maps_scores_and_sessions_to_hand_computed_coordinates() -> None:
    # last session 7 -> 7 + 2 = 9 sessions shown; x = 56 + 80 * (session - 1)
    # y = 24 + 240 * (1 - score / 40): 0 -> 264, 20 -> 144, 24.5 -> 117, 40 -> 24
    series = GraphSeries("Client", [(1, 0.0), (3, 20.0), (5, 24.5), (7, 40.0)])
    root = parse(make_data(outcome_series=[series], target=[], negative=[]))
    coordinates = {
        int(c.get("data-session", "")): (float(c.get("cx", "")), float(c.get("cy", "")))
        for c in ors_points(root)
    }
    assert coordinates == {1: (56, 264), 3: (216, 144), 5: (376, 117), 7: (536, 24)}


def test_it_maps_alliance_scores_into_the_bottom_panel() -> None:
    # y = 320 + 80 * (1 - score / 40): 38 -> 324, 34 -> 332; sessions 1 and 2 of 8 shown
    root = parse(make_data())
    points = {
        c.get("data-session"): (float(c.get("cx", "")), float(c.get("cy", "")))
        for c in srs_points(root)
    }
    assert points["1"] == pytest.approx((56, 324))
    assert points["2"] == pytest.approx((56 + 640 / 7, 332), abs=0.01)


def test_it_marks_alliance_points_below_the_cutoff() -> None:
    root = parse(make_data())
    classes = {c.get("data-session"): c.get("class") for c in srs_points(root)}
    assert classes == {"1": "srs-point", "2": "srs-point below-cutoff"}
    below = next(c for c in srs_points(root) if c.get("data-session") == "2")
    assert below.find(f"{SVG}title").text == "Session 2: 34.0, below 36"  # type: ignore[union-attr]


def test_each_ors_point_carries_session_score_zone_fill_and_a_title() -> None:
    root = parse(make_data())
    third = next(c for c in ors_points(root) if c.get("data-session") == "3")
    assert third.get("data-score") == "24.5"
    assert "pg-colour-orange" in third.get("class", "")
    assert third.find(f"{SVG}title").text == "Session 3: 24.5, orange"  # type: ignore[union-attr]


def test_it_draws_the_clinical_cutoff_as_a_labelled_dashed_line() -> None:
    # 25 of 40 -> y = 24 + 240 * 15 / 40 = 114
    root = parse(make_data())
    outcome_cutoff = by_class(root, "pg-cutoff")[0]
    assert float(outcome_cutoff.get("y1", "")) == 114
    labels = [t.text for t in by_class(root, "pg-cutoff-label")]
    assert labels == ["Cutoff 25", "Cutoff 36"]
    assert "stroke-dasharray" in render_progress_svg(make_data()).split(".pg-cutoff{")[1]


def test_it_shades_the_zones_between_the_target_and_negative_lines() -> None:
    # 9 sessions shown (target runs to 9): target 20 -> 30 maps to y 144 -> 84,
    # negative 15 -> 20 maps to y 174 -> 144
    target = [(1, 20.0), (9, 30.0)]
    negative = [(1, 15.0), (9, 20.0)]
    root = parse(make_data(target=target, negative=negative))
    green = point_pairs(by_class(root, "pg-zone-green")[0].get("points", ""))
    orange = point_pairs(by_class(root, "pg-zone-orange")[0].get("points", ""))
    red = point_pairs(by_class(root, "pg-zone-red")[0].get("points", ""))
    assert green == [(56, 24), (696, 24), (696, 84), (56, 144)]
    assert orange == [(56, 144), (696, 84), (696, 144), (56, 174)]
    assert red == [(56, 174), (696, 144), (696, 264), (56, 264)]


def test_the_session_axis_covers_the_whole_target_line() -> None:
    target = [(s, 20.0 + s) for s in range(1, 13)]
    root = parse(make_data(target=target, negative=[]))
    line = by_class(root, "pg-target")[0]
    xs = [x for x, _ in point_pairs(line.get("points", ""))]
    assert xs[0] == 56 and xs[-1] == 696
    tick_labels = [t.text for t in by_class(root, "pg-tick") if t.get("text-anchor") == "middle"]
    assert tick_labels[-1] == "12"


def test_it_escapes_labels_titles_and_the_model_label() -> None:
    hostile = '<script>alert("x")</script> & co'
    data = make_data(
        outcome_series=[GraphSeries(hostile, [(1, 20.0), (2, 22.0)])],
        title=hostile,
        model_label=hostile,
    )
    svg = render_progress_svg(data)
    assert "<script" not in svg
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == hostile  # type: ignore[union-attr]
    assert [t.text for t in by_class(root, "pg-legend")][0] == hostile
    assert by_class(root, "provenance")[0].text == hostile + " (provisional)"


def test_an_episode_without_scores_shows_an_empty_graph_with_a_friendly_text() -> None:
    data = make_data(outcome_series=[GraphSeries("Client", [])], alliance_points=[], colours={})
    root = parse(data)
    assert ors_points(root) == [] and srs_points(root) == []
    empty = by_class(root, "pg-empty")[0].text or ""
    assert empty.startswith("No scores yet")
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == "No Outcome Rating Scale scores yet. No Session Rating Scale scores yet."
    assert by_class(root, "pg-series") == []


def test_a_graph_without_any_series_is_also_empty_not_an_error() -> None:
    root = parse(make_data(outcome_series=[], alliance_points=[], target=[], negative=[]))
    assert by_class(root, "pg-empty")
    assert by_class(root, "pg-zone-green") == []


def test_a_single_point_is_drawn_without_a_line_on_the_default_eight_sessions() -> None:
    data = make_data(
        outcome_series=[GraphSeries("Client", [(1, 31.0)])],
        colours={1: "grey"},
        alliance_points=[],
        target=[],
        negative=[],
    )
    root = parse(data)
    (point,) = ors_points(root)
    # 31 of 40 -> y = 24 + 240 * 9 / 40 = 78
    assert (float(point.get("cx", "")), float(point.get("cy", ""))) == (56, 78)
    assert point.find(f"{SVG}title").text == "Session 1: 31.0, grey"  # type: ignore[union-attr]
    assert [e for e in by_class(root, "pg-series") if e.tag == f"{SVG}polyline"] == []
    session_ticks = [t.text for t in by_class(root, "pg-tick") if t.get("text-anchor") == "middle"]
    assert session_ticks[:8] == [str(s) for s in range(1, 9)]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert desc.startswith("Outcome Rating Scale: 1 score; latest 31.0 at session 1, grey zone.")


def test_missing_sessions_leave_gaps_on_the_session_axis() -> None:
    series = GraphSeries("Client", [(1, 15.0), (2, 17.0), (5, 26.0)])
    root = parse(make_data(outcome_series=[series], colours={1: "grey", 5: "green"}))
    sessions = [c.get("data-session") for c in ors_points(root)]
    assert sessions == ["1", "2", "5"]
    fifth = ors_points(root)[2]
    assert float(fifth.get("cx", "")) == pytest.approx(
        56 + 640 * 4 / 7, abs=0.01
    )  # 8 sessions shown
    assert "pg-colour-none" in (ors_points(root)[1].get("class") or "")


def test_twenty_four_sessions_fit_with_thinned_session_ticks() -> None:
    points = [(s, float(min(40, 10 + s))) for s in range(1, 25)]
    root = parse(make_data(outcome_series=[GraphSeries("Client", points)], colours={}))
    xs = [float(c.get("cx", "")) for c in ors_points(root)]
    assert len(xs) == 24 and min(xs) == 56 and max(xs) < 696
    ticks = [t.text for t in by_class(root, "pg-tick") if t.get("text-anchor") == "middle"]
    # 26 sessions shown, ticks every 2nd session in each of the two panels
    assert ticks[:13] == [str(s) for s in range(1, 27, 2)]


def test_scores_at_zero_and_forty_sit_on_the_panel_edges() -> None:
    series = GraphSeries("Client", [(1, 0.0), (2, 40.0)])
    root = parse(make_data(outcome_series=[series], alliance_points=[(1, 0.0), (2, 40.0)]))
    assert [float(c.get("cy", "")) for c in ors_points(root)] == [264, 24]
    assert [float(c.get("cy", "")) for c in srs_points(root)] == [400, 320]


def test_the_provenance_says_provisional_only_for_a_provisional_model() -> None:
    provisional = by_class(parse(make_data(provisional=True)), "provenance")[0].text
    fitted = by_class(
        parse(make_data(provisional=False, model_label="Agency model, 812 episodes")), "provenance"
    )[0].text
    assert provisional == "Expected treatment response: default model (provisional)"
    assert fitted == "Agency model, 812 episodes"


def test_other_raters_differ_by_marker_shape_and_dash_not_colour_alone() -> None:
    client = GraphSeries("Client", [(1, 18.0), (2, 20.0)])
    parent = GraphSeries("Parent", [(1, 14.0), (2, 16.0)])
    root = parse(make_data(outcome_series=[client, parent], colours={}))
    parent_markers = by_class(root, "rater-point")
    assert [m.tag for m in parent_markers] == [f"{SVG}rect", f"{SVG}rect"]
    assert len(ors_points(root)) == 2  # the client's points only
    lines = [e for e in by_class(root, "pg-series") if e.tag == f"{SVG}polyline"]
    assert [line.get("stroke-dasharray") for line in lines[:2]] == [None, "7 4"]
    assert "Parent" in [t.text for t in by_class(root, "pg-legend")]


def test_the_description_names_the_latest_score_zone_and_weak_alliance() -> None:
    desc = parse(make_data()).find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == (
        "Outcome Rating Scale: 3 scores; latest 24.5 at session 3, orange zone. "
        "Session Rating Scale: latest 34.0 at session 2, below the cutoff of 36."
    )


def test_it_rejects_a_score_outside_the_scale_naming_the_series() -> None:
    data = make_data(outcome_series=[GraphSeries("Client", [(1, 41.0)])])
    with pytest.raises(GraphDataError, match=r"outcome series 'Client': score 41.0 at session 1"):
        render_progress_svg(data)


def test_it_rejects_a_session_number_below_one() -> None:
    with pytest.raises(GraphDataError, match="alliance_points: session number 0"):
        render_progress_svg(make_data(alliance_points=[(0, 30.0)]))


def test_it_clips_a_model_line_that_runs_past_the_top_of_the_scale() -> None:
    root = parse(make_data(target=[(1, 30.0), (9, 44.0)], negative=[]))
    ys = [y for _, y in point_pairs(by_class(root, "pg-target")[0].get("points", ""))]
    assert ys == [84, 24]


@settings(max_examples=60, deadline=None)
@given(
    low=st.floats(min_value=0, max_value=40, allow_nan=False),
    high=st.floats(min_value=0, max_value=40, allow_nan=False),
    last=st.integers(min_value=2, max_value=60),
)
def test_higher_scores_are_drawn_higher_and_inside_the_panel(
    low: float, high: float, last: int
) -> None:
    scales = Scales(last_session=last, outcome_max=40, alliance_max=40)
    low, high = sorted((low, high))
    assert 24 <= scales.outcome_y(high) <= scales.outcome_y(low) <= 264
    assert scales.x(1) == 56 and scales.x(last) == pytest.approx(696)


def test_the_graph_describes_itself_in_spanish_under_a_spanish_locale() -> None:
    from django.utils import translation

    client = GraphSeries("Cliente", [(1, 18.0), (2, 20.0), (3, 24.5)])
    parent = GraphSeries("Padre/madre", [(1, 14.0), (2, 16.0)])
    with translation.override("es"):
        root = parse(make_data(outcome_series=[client, parent], title="Evolución de K7Q2"))
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == (
        "Outcome Rating Scale: 3 puntuaciones; la última, 24,5 en la sesión 3, zona naranja. "
        "Session Rating Scale: la última, 34,0 en la sesión 2, por debajo del punto de corte de 36."
    )
    third = next(c for c in ors_points(root) if c.get("data-session") == "3")
    assert third.find(f"{SVG}title").text == "Sesión 3: 24,5, naranja"  # type: ignore[union-attr]
    marker = by_class(root, "rater-point")[0]
    assert marker.find(f"{SVG}title").text == "Padre/madre, sesión 1: 14,0"  # type: ignore[union-attr]
    axis_labels = {t.text for t in by_class(root, "pg-axis-label")}
    assert "Sesión" in axis_labels and "Session" not in axis_labels
    assert [t.text for t in by_class(root, "pg-cutoff-label")] == [
        "Punto de corte 25",
        "Punto de corte 36",
    ]
    legend = [t.text for t in by_class(root, "pg-legend")]
    assert legend[2:] == [
        "Esperado (objetivo)",
        "Percentil bajo",
        "En buen camino",
        "Por debajo del objetivo",
        "Fuera de camino",
        "Punto de corte clínico / de alianza",
    ]
    assert by_class(root, "provenance")[0].text.endswith(" (provisional)")  # type: ignore[union-attr]


def test_a_single_score_is_described_in_the_singular_in_both_languages() -> None:
    from django.utils import translation

    data = make_data(outcome_series=[GraphSeries("Client", [(2, 20.0)])], colours={})
    english = parse(data).find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    with translation.override("es"):
        spanish = parse(data).find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert english.startswith("Outcome Rating Scale: 1 score; latest 20.0 at session 2.")
    assert spanish.startswith("Outcome Rating Scale: 1 puntuación; la última, 20,0 en la sesión 2.")
