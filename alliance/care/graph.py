"""The progress graph: a server-rendered inline SVG of one episode (no JavaScript, no database).

Top panel: the outcome scale (ORS) per session against the expected treatment response, with the
zones shaded (green above the target line, orange between target and negative line, red below),
the clinical cutoff dashed, one line per rater. Bottom panel: the alliance scale (SRS) with its
cutoff. Under the panels: a legend and the ETR model's provenance.

The geometry is fixed (see the layout constants) so that a score maps to the same y on every
graph: ``y = panel.top + panel.height * (1 - score / scale_max)`` and sessions are spread evenly
from session 1 at ``PLOT_LEFT`` to the last session shown at ``PLOT_RIGHT``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from . import svg

WIDTH = 720
PLOT_LEFT = 56.0
PLOT_RIGHT = 696.0
LEGEND_ROW_HEIGHT = 18.0
LEGEND_CHAR_WIDTH = 6.2  # rough width of one 11px character, enough to keep legend items apart
MIN_SESSIONS_SHOWN = 8
SESSIONS_AHEAD = 2  # leave room to the right so the next session has a place to land


@dataclass(frozen=True)
class Panel:
    top: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height


OUTCOME_PANEL = Panel(top=24.0, height=240.0)
ALLIANCE_PANEL = Panel(top=320.0, height=80.0)
LEGEND_TOP = 446.0

ZONE_WORDS = {
    "green": gettext_lazy("green"),
    "orange": gettext_lazy("orange"),
    "red": gettext_lazy("red"),
    "grey": gettext_lazy("grey"),
}
SERIES_DASHES = ("", "7 4", "2 3", "9 3 2 3")
SERIES_MARKERS = ("circle", "square", "triangle", "diamond")

STYLE = """
.pg-frame{fill:#fff}
.pg-zone-green{fill:#e2f3e5}
.pg-zone-orange{fill:#fdecd2}
.pg-zone-red{fill:#fbe1e1}
.pg-grid{stroke:#d9d9d9;stroke-width:1}
.pg-axis{stroke:#444;stroke-width:1}
.pg-tick{font:11px sans-serif;fill:#333}
.pg-axis-label{font:12px sans-serif;fill:#222}
.pg-target{fill:none;stroke:#1b6e34;stroke-width:1.5;stroke-dasharray:1 0}
.pg-negative{fill:none;stroke:#a12626;stroke-width:1.5;stroke-dasharray:4 3}
.pg-cutoff{stroke:#333;stroke-width:1.2;stroke-dasharray:6 4}
.pg-cutoff-label{font:11px sans-serif;fill:#222}
.pg-series{fill:none;stroke-width:2}
.pg-marker{stroke:#fff;stroke-width:1.5}
.pg-colour-green{fill:#1b7d3a}
.pg-colour-orange{fill:#b35900}
.pg-colour-red{fill:#c62828}
.pg-colour-grey{fill:#666}
.pg-colour-none{fill:#1f3a93}
.srs-point{fill:#1f3a93;stroke:#fff;stroke-width:1.5}
.srs-point.below-cutoff{fill:#c62828}
.pg-empty{font:14px sans-serif;fill:#333}
.pg-legend{font:11px sans-serif;fill:#222}
.provenance{font:12px sans-serif;fill:#333}
"""

SERIES_STROKES = ("#1f3a93", "#6a3d9a", "#4d4d4d", "#8c510a")


@dataclass
class GraphSeries:
    label: str
    points: list[tuple[int, float]]


@dataclass
class GraphData:
    outcome_series: list[GraphSeries]
    outcome_name: str
    outcome_max: float
    outcome_cutoff: float | None
    target: list[tuple[int, float]]
    negative: list[tuple[int, float]]
    colours: dict[int, str]
    alliance_points: list[tuple[int, float]]
    alliance_name: str
    alliance_max: float
    alliance_cutoff: float | None
    model_label: str
    provisional: bool
    title: str


class GraphDataError(ValueError):
    """The graph data is inconsistent; the message names the offending field."""


@dataclass(frozen=True)
class Scales:
    """Maps sessions and scores to SVG coordinates for one graph."""

    last_session: int
    outcome_max: float
    alliance_max: float

    def x(self, session: float) -> float:
        span = PLOT_RIGHT - PLOT_LEFT
        return PLOT_LEFT + span * (session - 1) / (self.last_session - 1)

    def outcome_y(self, score: float) -> float:
        return _panel_y(OUTCOME_PANEL, score, self.outcome_max)

    def alliance_y(self, score: float) -> float:
        return _panel_y(ALLIANCE_PANEL, score, self.alliance_max)


def render_progress_svg(data: GraphData) -> str:
    """Return the progress graph as a self-contained inline ``<svg>`` element."""
    _validate(data)
    scales = Scales(_last_session_shown(data), data.outcome_max, data.alliance_max)
    legend_rows = _legend_rows(_legend_entries(data))
    height = LEGEND_TOP + LEGEND_ROW_HEIGHT * len(legend_rows) + 22
    parts = [
        *svg.document(
            WIDTH,
            height,
            data.title,
            describe(data),
            STYLE,
            data_testid="progress-graph",
            class_="progress-graph",
            preserveAspectRatio="xMidYMid meet",
        ),
        _outcome_panel(data, scales),
        _alliance_panel(data, scales),
        _legend(legend_rows),
        _provenance(data, height - 8),
        "</svg>",
    ]
    return "\n".join(part for part in parts if part)


def describe(data: GraphData) -> str:
    """A text summary of the graph for screen readers: latest scores and zones."""
    sentences = [_describe_outcome(data), _describe_alliance(data)]
    return " ".join(sentence for sentence in sentences if sentence)


def _describe_outcome(data: GraphData) -> str:
    client = data.outcome_series[0].points if data.outcome_series else []
    if not client:
        return _("No %(name)s scores yet.") % {"name": data.outcome_name}
    session, score = max(client)
    zone = data.colours.get(session)
    values = {
        "name": data.outcome_name,
        "count": len(client),
        "score": _score_text(score),
        "session": session,
        "zone": ZONE_WORDS.get(zone, zone) if zone else zone,
    }
    if zone:
        return (
            ngettext(
                "%(name)s: %(count)s score; latest %(score)s at session %(session)s, %(zone)s zone.",
                "%(name)s: %(count)s scores; latest %(score)s at session %(session)s, %(zone)s zone.",
                len(client),
            )
            % values
        )
    return (
        ngettext(
            "%(name)s: %(count)s score; latest %(score)s at session %(session)s.",
            "%(name)s: %(count)s scores; latest %(score)s at session %(session)s.",
            len(client),
        )
        % values
    )


def _describe_alliance(data: GraphData) -> str:
    if not data.alliance_points:
        return _("No %(name)s scores yet.") % {"name": data.alliance_name}
    session, score = max(data.alliance_points)
    values = {
        "name": data.alliance_name,
        "score": _score_text(score),
        "session": session,
        "cutoff": svg.figure(data.alliance_cutoff),
    }
    if _below(score, data.alliance_cutoff):
        return (
            _("%(name)s: latest %(score)s at session %(session)s, below the cutoff of %(cutoff)s.")
            % values
        )
    return _("%(name)s: latest %(score)s at session %(session)s.") % values


def _validate(data: GraphData) -> None:
    for name, maximum in (("outcome_max", data.outcome_max), ("alliance_max", data.alliance_max)):
        if not (math.isfinite(maximum) and maximum > 0):
            raise GraphDataError(f"{name} must be a positive number, got {maximum!r}")
    for series in data.outcome_series:
        _check_points(f"outcome series {series.label!r}", series.points, data.outcome_max)
    _check_points("alliance_points", data.alliance_points, data.alliance_max)
    for name, line in (("target", data.target), ("negative", data.negative)):
        _check_sessions(name, line)


def _check_points(name: str, points: Sequence[tuple[int, float]], maximum: float) -> None:
    _check_sessions(name, points)
    for session, score in points:
        if not (math.isfinite(score) and 0 <= score <= maximum):
            raise GraphDataError(
                f"{name}: score {score!r} at session {session} is outside 0..{svg.num(maximum)}"
            )


def _check_sessions(name: str, points: Sequence[tuple[int, float]]) -> None:
    for session, _score_value in points:
        if int(session) != session or session < 1:
            raise GraphDataError(f"{name}: session number {session!r} must be an integer >= 1")


def _last_session_shown(data: GraphData) -> int:
    sessions = [s for series in data.outcome_series for s, _ in series.points]
    sessions += [s for s, _ in data.alliance_points]
    latest = max(sessions, default=0)
    line_end = max((s for s, _ in [*data.target, *data.negative]), default=0)
    return int(max(MIN_SESSIONS_SHOWN, latest + SESSIONS_AHEAD, line_end))


def _panel_y(panel: Panel, score: float, maximum: float) -> float:
    return panel.top + panel.height * (1 - score / maximum)


# -- outcome panel ---------------------------------------------------------------------------


def _outcome_panel(data: GraphData, scales: Scales) -> str:
    parts = [
        _frame(OUTCOME_PANEL),
        _zones(data, scales),
        _y_grid(OUTCOME_PANEL, data.outcome_max, scales.outcome_y),
        _x_axis(OUTCOME_PANEL, scales),
        _y_label(OUTCOME_PANEL, data.outcome_name),
        _model_line("pg-target", data.target, scales),
        _model_line("pg-negative", data.negative, scales),
        _cutoff(data.outcome_cutoff, scales.outcome_y),
    ]
    for index, series in enumerate(data.outcome_series):
        parts.append(_series(index, series, data.colours, scales))
    if not any(series.points for series in data.outcome_series):
        parts.append(_empty_message(data.outcome_name))
    return "\n".join(part for part in parts if part)


def _zones(data: GraphData, scales: Scales) -> str:
    target = _clipped_line(data.target, data.outcome_max, scales)
    negative = _clipped_line(data.negative, data.outcome_max, scales)
    top_edge = _edge(target or negative, scales.outcome_y(data.outcome_max))
    bottom_edge = _edge(negative or target, scales.outcome_y(0))
    polygons = []
    if target:
        polygons.append(("pg-zone-green", top_edge + target[::-1]))
    if target and negative:
        polygons.append(("pg-zone-orange", target + negative[::-1]))
    if negative:
        polygons.append(("pg-zone-red", negative + bottom_edge[::-1]))
    return "\n".join(
        svg.tag("polygon", class_=css, points=svg.points(corners)) for css, corners in polygons
    )


def _clipped_line(
    line: Sequence[tuple[int, float]], maximum: float, scales: Scales
) -> list[tuple[float, float]]:
    # A fitted model may predict beyond the scale; the graph shows the scale's bounds instead.
    return [
        (scales.x(session), scales.outcome_y(min(max(score, 0.0), maximum)))
        for session, score in sorted(line)
    ]


def _edge(line: list[tuple[float, float]], y: float) -> list[tuple[float, float]]:
    return [(x, y) for x, _ in line]


def _model_line(css: str, line: Sequence[tuple[int, float]], scales: Scales) -> str:
    if not line:
        return ""
    return svg.tag(
        "polyline", class_=css, points=svg.points(_clipped_line(line, scales.outcome_max, scales))
    )


def _series(index: int, series: GraphSeries, colours: dict[int, str], scales: Scales) -> str:
    if not series.points:
        return ""
    is_client = index == 0
    stroke = SERIES_STROKES[index % len(SERIES_STROKES)]
    ordered = sorted(series.points)
    coordinates = [(scales.x(s), scales.outcome_y(score)) for s, score in ordered]
    parts = []
    if len(coordinates) > 1:
        parts.append(_series_line(index, points=svg.points(coordinates)))
    for (session, score), (x, y) in zip(ordered, coordinates, strict=True):
        if is_client:
            parts.append(_ors_point(session, score, colours.get(session), x, y))
        else:
            parts.append(_rater_marker(index, series.label, session, score, stroke, x, y))
    return svg.tag("g", "\n", "\n".join(parts), "\n", class_="pg-rater", data_rater=series.label)


def _series_line(index: int, **position: Any) -> str:  # Any: see svg.line
    """The line of the index-th rater: its colour and dash, so colour is never the only cue."""
    dash = SERIES_DASHES[index % len(SERIES_DASHES)]
    return svg.tag(
        "polyline" if "points" in position else "line",
        class_="pg-series",
        stroke=SERIES_STROKES[index % len(SERIES_STROKES)],
        stroke_dasharray=dash or None,
        **position,
    )


def _ors_point(session: int, score: float, colour: str | None, x: float, y: float) -> str:
    zone = colour if colour in ZONE_WORDS else None
    text = _("Session %(n)s: %(score)s") % {"n": session, "score": _score_text(score)} + (
        f", {ZONE_WORDS[zone]}" if zone else ""
    )
    return _point(
        f"ors-point pg-marker pg-colour-{zone or 'none'}", session, score, x, y, 5.5, text
    )


def _point(css: str, session: int, score: float, x: float, y: float, r: float, text: str) -> str:
    return svg.tag(
        "circle",
        svg.title(text),
        class_=css,
        data_session=session,
        data_score=_score(score),
        cx=x,
        cy=y,
        r=r,
    )


def _rater_marker(
    index: int, label: str, session: int, score: float, fill: str, x: float, y: float
) -> str:
    text = _("%(rater)s, session %(n)s: %(score)s") % {
        "rater": label,
        "n": session,
        "score": _score_text(score),
    }
    return _marker(
        SERIES_MARKERS[index % len(SERIES_MARKERS)],
        x,
        y,
        svg.title(text),
        class_="rater-point pg-marker",
        data_session=session,
        data_score=_score(score),
        fill=fill,
    )


def _marker(shape: str, x: float, y: float, *children: str, **attributes: Any) -> str:
    # Any, not object: forwarded to svg.tag (see svg.line).
    size = 5.0
    if shape == "circle":
        return svg.tag("circle", *children, **attributes, cx=x, cy=y, r=size)
    if shape == "square":
        return svg.tag(
            "rect", *children, **attributes, x=x - size, y=y - size, width=2 * size, height=2 * size
        )
    if shape == "triangle":
        corners = [(x, y - size - 1), (x + size + 1, y + size), (x - size - 1, y + size)]
    else:
        corners = [(x, y - size - 1), (x + size + 1, y), (x, y + size + 1), (x - size - 1, y)]
    return svg.tag("polygon", *children, **attributes, points=svg.points(corners))


def _empty_message(outcome_name: str) -> str:
    x = (PLOT_LEFT + PLOT_RIGHT) / 2
    y = OUTCOME_PANEL.top + OUTCOME_PANEL.height / 2
    text = _("No scores yet: the graph fills in after the first %(name)s.") % {"name": outcome_name}
    return svg.label("pg-empty", x, y, text, anchor="middle")


# -- alliance panel --------------------------------------------------------------------------


def _alliance_panel(data: GraphData, scales: Scales) -> str:
    parts = [
        _frame(ALLIANCE_PANEL),
        _y_grid(ALLIANCE_PANEL, data.alliance_max, scales.alliance_y),
        _x_axis(ALLIANCE_PANEL, scales),
        _y_label(ALLIANCE_PANEL, data.alliance_name),
        _cutoff(data.alliance_cutoff, scales.alliance_y),
    ]
    ordered = sorted(data.alliance_points)
    coordinates = [(scales.x(s), scales.alliance_y(score)) for s, score in ordered]
    if len(coordinates) > 1:
        parts.append(
            svg.tag(
                "polyline",
                class_="pg-series",
                stroke=SERIES_STROKES[0],
                points=svg.points(coordinates),
            )
        )
    for (session, score), (x, y) in zip(ordered, coordinates, strict=True):
        parts.append(_srs_point(session, score, data.alliance_cutoff, x, y))
    return "\n".join(part for part in parts if part)


def _srs_point(session: int, score: float, cutoff: float | None, x: float, y: float) -> str:
    below = _below(score, cutoff)
    css = "srs-point below-cutoff" if below else "srs-point"
    note = _(", below %(cutoff)s") % {"cutoff": svg.figure(cutoff)} if below else ""
    text = _("Session %(n)s: %(score)s") % {"n": session, "score": _score_text(score)} + note
    return _point(css, session, score, x, y, 4.5, text)


def _below(score: float, cutoff: float | None) -> bool:
    return cutoff is not None and score < cutoff


# -- shared pieces ---------------------------------------------------------------------------


def _frame(panel: Panel) -> str:
    return svg.tag(
        "rect",
        class_="pg-frame",
        x=PLOT_LEFT,
        y=panel.top,
        width=PLOT_RIGHT - PLOT_LEFT,
        height=panel.height,
    )


def _y_grid(panel: Panel, maximum: float, to_y: Callable[[float], float]) -> str:
    step = svg.nice_step(maximum, max(2, int(panel.height // 22)), whole=True)
    parts = svg.value_grid(
        svg.ticks(0.0, maximum, step),
        to_y,
        across=(PLOT_LEFT, PLOT_RIGHT),
        css="pg-grid",
        label_css="pg-tick",
        label_at=PLOT_LEFT - 6,
        anchor="end",
        dominant_baseline="middle",
    )
    parts.append(svg.line("pg-axis", PLOT_LEFT, PLOT_LEFT, panel.top, panel.bottom))
    return "\n".join(parts)


def _x_axis(panel: Panel, scales: Scales) -> str:
    step = int(svg.nice_step(scales.last_session - 1, 20, whole=True)) or 1
    parts = [svg.line("pg-axis", PLOT_LEFT, PLOT_RIGHT, panel.bottom, panel.bottom)]
    for session in range(1, scales.last_session + 1, step):
        parts.append(
            svg.label(
                "pg-tick", scales.x(session), panel.bottom + 15, str(session), anchor="middle"
            )
        )
    parts.append(
        svg.label("pg-axis-label", PLOT_RIGHT, panel.bottom + 30, _("Session"), anchor="end")
    )
    return "\n".join(parts)


def _y_label(panel: Panel, name: str) -> str:
    x = 14.0
    y = panel.top + panel.height / 2
    return svg.label(
        "pg-axis-label",
        x,
        y,
        _short_name(name),
        anchor="middle",
        transform=f"rotate(-90 {svg.num(x)} {svg.num(y)})",
    )


def _short_name(name: str) -> str:
    # The rotated axis label has room for an abbreviation only: "Outcome Rating Scale" -> "ORS".
    words = name.split()
    if len(name) <= 12 or len(words) < 2:
        return name
    return "".join(word[0].upper() for word in words if word[0].isalnum())


def _cutoff(cutoff: float | None, to_y: Callable[[float], float]) -> str:
    if cutoff is None:
        return ""
    y = to_y(cutoff)
    text = _("Cutoff %(value)s") % {"value": svg.figure(cutoff)}
    return svg.line("pg-cutoff", PLOT_LEFT, PLOT_RIGHT, y, y) + svg.label(
        "pg-cutoff-label", PLOT_RIGHT - 4, y - 4, text, anchor="end"
    )


def _legend_entries(data: GraphData) -> list[tuple[str, str]]:
    """(swatch kind, text) pairs; the swatch repeats the line style so colour is never alone."""
    entries = [(f"series-{i}", s.label) for i, s in enumerate(data.outcome_series) if s.points]
    if data.target:
        entries.append(("target", _("Expected (target)")))
    if data.negative:
        entries.append(("negative", _("Low percentile")))
    if data.target or data.negative:
        entries += [
            ("zone-green", _("On track")),
            ("zone-orange", _("Below target")),
            ("zone-red", _("Off track")),
        ]
    if data.outcome_cutoff is not None or data.alliance_cutoff is not None:
        entries.append(("cutoff", _("Clinical / alliance cutoff")))
    return entries


def _legend_rows(entries: list[tuple[str, str]]) -> list[list[tuple[str, str, float]]]:
    rows: list[list[tuple[str, str, float]]] = [[]]
    x = PLOT_LEFT
    for kind, text in entries:
        width = 30 + LEGEND_CHAR_WIDTH * len(text) + 16
        if rows[-1] and x + width > PLOT_RIGHT:
            rows.append([])
            x = PLOT_LEFT
        rows[-1].append((kind, text, x))
        x += width
    return [row for row in rows if row]


def _legend(rows: list[list[tuple[str, str, float]]]) -> str:
    parts = []
    for row_index, row in enumerate(rows):
        y = LEGEND_TOP + row_index * LEGEND_ROW_HEIGHT
        for kind, text, x in row:
            parts.append(_swatch(kind, x, y))
            parts.append(svg.label("pg-legend", x + 30, y + 4, text))
    return svg.tag("g", "\n", "\n".join(parts), "\n", class_="pg-legend-group")


def _swatch(kind: str, x: float, y: float) -> str:
    if kind.startswith("series-"):
        index = int(kind.removeprefix("series-"))
        stroke = SERIES_STROKES[index % len(SERIES_STROKES)]
        shape = SERIES_MARKERS[index % len(SERIES_MARKERS)]
        return _series_line(index, x1=x, x2=x + 24, y1=y, y2=y) + _marker(
            shape, x + 12, y, class_="pg-marker", fill=stroke
        )
    if kind.startswith("zone-"):
        return svg.tag(
            "rect",
            class_=f"pg-{kind}",
            x=x,
            y=y - 6,
            width=24,
            height=12,
            stroke="#999",
            stroke_width="0.5",
        )
    if kind in ("target", "negative", "cutoff"):
        return svg.line(f"pg-{kind}", x, x + 24, y, y)
    return ""


def _provenance(data: GraphData, y: float) -> str:
    text = data.model_label + (_(" (provisional)") if data.provisional else "")
    return svg.label("provenance", PLOT_LEFT, y, text)


def _score(score: float) -> str:
    # Scores are measured to the millimetre, so one decimal is the instrument's own precision.
    # For data- attributes (read by scripts and tests): always a dot.
    return f"{score:.1f}"


def _score_text(score: float) -> str:
    """A score as a person reads it: one decimal, in the active language ("31,8" in Spanish)."""
    return svg.figure(score, 1)
