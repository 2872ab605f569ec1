"""Server-rendered SVG charts for the reports (no JavaScript, no external fonts).

Each chart has a ``<title>`` and a ``<desc>`` that says in words what the picture shows, so a
screen reader (and the PDF) carry the same information. Colour is never the only cue: intervals
are drawn as lines with end caps, reference lines are dashed and labelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from alliance.care import svg

WIDTH = 720
LEFT = 170.0
RIGHT = 690.0
ROW = 22.0
TOP = 30.0
# The charts' axes may be fractions of a unit (effect sizes, probabilities).
FACTORS = (1, 2, 2.5, 5, 10)

STYLE = (
    ".ch-axis{stroke:#444;stroke-width:1}.ch-grid{stroke:#ddd;stroke-width:1}"
    ".ch-ref{stroke:#333;stroke-width:1.2;stroke-dasharray:5 4}"
    ".ch-text{font:11px sans-serif;fill:#222}.ch-label{font:12px sans-serif;fill:#222}"
    ".ch-ci{stroke:#1f3a93;stroke-width:2}.ch-point{fill:#1f3a93}"
    ".ch-above .ch-point{fill:#1b7d3a}.ch-above .ch-ci{stroke:#1b7d3a}"
    ".ch-below .ch-point{fill:#b35900}.ch-below .ch-ci{stroke:#b35900}"
    ".ch-bar{fill:#8fa8d8;stroke:#1f3a93;stroke-width:.5}.ch-ideal{stroke:#777;stroke-dasharray:3 3}"
    ".ch-line{fill:none;stroke:#1f3a93;stroke-width:2}.ch-band{fill:#dfe6f5}"
)


@dataclass(frozen=True)
class Estimate:
    label: str
    value: float | None
    low: float | None
    high: float | None
    n: int | None = None
    css: str = ""


def _open(height: float, heading: str, description: str, testid: str) -> list[str]:
    return svg.document(
        WIDTH, height, heading, description, STYLE, class_="report-chart", data_testid=testid
    )


def _empty(parts: list[str], x: float, y: float, text: str) -> str:
    parts.append(svg.label("ch-label", x, y, text) + "</svg>")
    return "\n".join(parts)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _known(value: float | None) -> float:
    """A value of a row ``_finite`` let through: never None (the check narrows it for mypy)."""
    assert value is not None
    return value


def _range(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    span = high - low
    return low - pad * span, high + pad * span


def _ticks(low: float, high: float, count: int = 6) -> list[float]:
    return svg.ticks(low, high, svg.nice_step(high - low, count, FACTORS))


def _interval(e: Estimate) -> str:
    """The estimate and its interval in figures (the active language's decimal separator)."""
    return f"{svg.figure(e.value, 2)} [{svg.figure(e.low, 2)} – {svg.figure(e.high, 2)}]"


def forest_svg(
    estimates: Sequence[Estimate],
    *,
    title: str,
    axis_label: str,
    reference: float | None = None,
    reference_label: str = "",
    testid: str = "forest",
) -> str:
    """Point estimates with 95% intervals, one row per group (groups in the given order)."""
    rows = [e for e in estimates if _finite(e.value, e.low, e.high)]
    height = TOP + ROW * max(len(rows), 1) + 50
    desc_rows = []
    for e in rows:
        values = {
            "label": e.label,
            "value": svg.figure(e.value, 2),
            "low": svg.figure(e.low, 2),
            "high": svg.figure(e.high, 2),
            "n": e.n,
        }
        if e.n is None:
            desc_rows.append(_("%(label)s: %(value)s (95%% interval %(low)s to %(high)s)") % values)
        else:
            desc_rows.append(
                _("%(label)s: %(value)s (95%% interval %(low)s to %(high)s, n = %(n)s)") % values
            )
    parts = _open(height, title, "; ".join(desc_rows) or _("No estimates."), testid)
    if not rows:
        return _empty(parts, LEFT, TOP + 14, _("No estimates."))
    bounds = [_known(v) for e in rows for v in (e.low, e.high)] + (
        [reference] if reference is not None else []
    )
    low, high = _range(bounds)

    def x(value: float) -> float:
        return LEFT + (RIGHT - LEFT) * (value - low) / (high - low)

    bottom = TOP + ROW * len(rows)
    parts += svg.value_grid(
        _ticks(low, high),
        x,
        across=(TOP - 6, bottom),
        css="ch-grid",
        label_css="ch-text",
        vertical=True,
        label_at=bottom + 14,
        anchor="middle",
    )
    if reference is not None:
        at = x(reference)
        parts.append(
            svg.line("ch-ref", at, at, TOP - 10, bottom)
            + svg.label("ch-text", at + 4, TOP - 14, reference_label)
        )
    for i, e in enumerate(rows):
        y = TOP + ROW * i + ROW / 2
        name = e.label + (f" (n={e.n})" if e.n is not None else "")
        parts.append(
            svg.tag(
                "g",
                svg.label("ch-label", LEFT - 8, y + 4, name, anchor="end"),
                svg.line("ch-ci", x(_known(e.low)), x(_known(e.high)), y, y),
                svg.line("ch-ci", x(_known(e.low)), x(_known(e.low)), y - 4, y + 4),
                svg.line("ch-ci", x(_known(e.high)), x(_known(e.high)), y - 4, y + 4),
                svg.tag(
                    "circle",
                    svg.title(f"{name}: {_interval(e)}"),
                    class_="ch-point",
                    cx=x(_known(e.value)),
                    cy=y,
                    r=4,
                ),
                class_=f"ch-row {e.css}",
            )
        )
    parts.append(
        svg.line("ch-axis", LEFT, RIGHT, bottom, bottom)
        + svg.label("ch-label", RIGHT, bottom + 34, axis_label, anchor="end")
        + "</svg>"
    )
    return "\n".join(parts)


def trend_svg(
    points: Sequence[Estimate], *, title: str, axis_label: str, testid: str = "trend"
) -> str:
    """A line over periods with a shaded 95% band; periods in the given order."""
    rows = [p for p in points if _finite(p.value, p.low, p.high)]
    height = 260.0
    desc = "; ".join(
        _("%(label)s: %(value)s (%(low)s to %(high)s, n = %(n)s)")
        % {
            "label": p.label,
            "value": svg.figure(p.value, 2),
            "low": svg.figure(p.low, 2),
            "high": svg.figure(p.high, 2),
            "n": p.n,
        }
        for p in rows
    )
    parts = _open(height, title, desc or _("No periods with enough data."), testid)
    if not rows:
        return _empty(parts, 60, 40, _("No periods with enough data."))
    left, right, top, bottom = 60.0, 690.0, 20.0, 210.0
    low, high = _range([_known(v) for p in rows for v in (p.low, p.high)])

    def x(i: int) -> float:
        return left + (right - left) * (i + 0.5) / len(rows)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - low) / (high - low)

    parts += svg.value_grid(
        _ticks(low, high, 5),
        y,
        across=(left, right),
        css="ch-grid",
        label_css="ch-text",
        label_at=left - 6,
        label_offset=4,
        anchor="end",
    )
    band = [(x(i), y(_known(p.high))) for i, p in enumerate(rows)] + [
        (x(i), y(_known(p.low))) for i, p in reversed(list(enumerate(rows)))
    ]
    parts.append(svg.tag("polygon", class_="ch-band", points=svg.points(band)))
    line_points = [(x(i), y(_known(p.value))) for i, p in enumerate(rows)]
    parts.append(svg.tag("polyline", class_="ch-line", points=svg.points(line_points)))
    step = max(1, math.ceil(len(rows) / 12))
    for i, p in enumerate(rows):
        parts.append(
            svg.tag(
                "circle",
                svg.title(f"{p.label}: {_interval(p)}"),
                class_="ch-point",
                cx=x(i),
                cy=y(_known(p.value)),
                r=3.5,
            )
        )
        if i % step == 0:
            parts.append(svg.label("ch-text", x(i), bottom + 16, p.label, anchor="middle"))
    parts.append(
        svg.line("ch-axis", left, right, bottom, bottom)
        + svg.label("ch-label", 12, top + 4, axis_label)
        + "</svg>"
    )
    return "\n".join(parts)


def histogram_svg(
    values: Sequence[float],
    *,
    title: str,
    axis_label: str,
    bin_width: float = 2.0,
    markers: Sequence[tuple[float, str]] = (),
    testid: str = "histogram",
) -> str:
    """Distribution of values in fixed-width bins, with labelled reference lines (e.g. +-RC)."""
    height = 250.0
    left, right, top, bottom = 60.0, 690.0, 24.0, 200.0
    if not values:
        return _empty(_open(height, title, _("No values."), testid), 60, 40, _("No values."))
    start = math.floor(min(values) / bin_width) * bin_width
    stop = math.floor(max(values) / bin_width) * bin_width + bin_width
    bins = max(1, round((stop - start) / bin_width))
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - start) // bin_width))] += 1
    below = {name: sum(1 for v in values if v < at) for at, name in markers}
    desc = _("%(count)s values from %(low)s to %(high)s; ") % {
        "count": len(values),
        "low": svg.figure(min(values), 1),
        "high": svg.figure(max(values), 1),
    } + "; ".join(
        _("%(count)s below %(label)s") % {"count": count, "label": name}
        for name, count in below.items()
    )
    parts = _open(height, title, desc, testid)
    peak = max(counts)

    def x(v: float) -> float:
        return left + (right - left) * (v - start) / (stop - start)

    def y(c: float) -> float:
        return bottom - (bottom - top) * c / peak

    for i, count in enumerate(counts):
        lo = start + i * bin_width
        text = _("%(low)s to %(high)s: %(count)s") % {
            "low": svg.figure(lo),
            "high": svg.figure(lo + bin_width),
            "count": count,
        }
        parts.append(
            svg.tag(
                "rect",
                svg.title(text),
                class_="ch-bar",
                x=x(lo),
                y=y(count),
                width=x(lo + bin_width) - x(lo),
                height=bottom - y(count),
            )
        )
    for tick in _ticks(start, stop, 8):
        parts.append(svg.label("ch-text", x(tick), bottom + 14, svg.figure(tick), anchor="middle"))
    for at, name in markers:
        if start <= at <= stop:
            parts.append(
                svg.line("ch-ref", x(at), x(at), top - 8, bottom)
                + svg.label("ch-text", x(at) + 3, top - 10, name)
            )
    parts.append(
        svg.line("ch-axis", left, right, bottom, bottom)
        + svg.label("ch-label", right, bottom + 34, axis_label, anchor="end")
        + svg.label("ch-text", left - 6, top + 4, str(peak), anchor="end")
        + "</svg>"
    )
    return "\n".join(parts)


def calibration_svg(deciles: Sequence[dict], *, title: str, testid: str = "calibration") -> str:
    """Observed rate against mean predicted probability per group; the diagonal is perfect."""
    size, left, top = 300.0, 60.0, 20.0
    height = top + size + 50
    rows = [d for d in deciles if _finite(d.get("mean_predicted"), d.get("observed_rate"))]

    def figures(d: dict) -> dict:
        return {
            "group": d["group"],
            "predicted": svg.figure(d["mean_predicted"], 2),
            "observed": svg.figure(d["observed_rate"], 2),
            "n": d["n"],
        }

    desc = "; ".join(
        _("group %(group)s: predicted %(predicted)s, observed %(observed)s (n = %(n)s)")
        % figures(d)
        for d in rows
    )
    parts = _open(height, title, desc or _("No calibration data."), testid)

    def x(p: float) -> float:
        return left + size * p

    def y(p: float) -> float:
        return top + size * (1 - p)

    quarters = (0, 0.25, 0.5, 0.75, 1.0)
    parts += svg.value_grid(
        quarters,
        x,
        across=(top, top + size),
        css="ch-grid",
        label_css="ch-text",
        vertical=True,
        label_at=top + size + 14,
        anchor="middle",
    )
    parts += svg.value_grid(
        quarters,
        y,
        across=(left, left + size),
        css="ch-grid",
        label_css="ch-text",
        label_at=left - 6,
        label_offset=4,
        anchor="end",
    )
    parts.append(
        svg.line("ch-ideal", x(0), x(1), y(0), y(1))
        + svg.label("ch-text", x(0.62), y(0.7), _("perfect calibration"))
    )
    if len(rows) > 1:
        corners = [(x(d["mean_predicted"]), y(d["observed_rate"])) for d in rows]
        parts.append(svg.tag("polyline", class_="ch-line", points=svg.points(corners)))
    for d in rows:
        text = _("predicted %(predicted)s, observed %(observed)s, n = %(n)s") % figures(d)
        parts.append(
            svg.tag(
                "circle",
                svg.title(text),
                class_="ch-point",
                cx=x(d["mean_predicted"]),
                cy=y(d["observed_rate"]),
                r=4,
            )
        )
    parts.append(
        svg.label(
            "ch-label",
            left + size / 2,
            top + size + 34,
            _("Predicted probability of reliable improvement"),
            anchor="middle",
        )
        + svg.label("ch-label", left + size + 20, top + 14, _("Observed rate"))
        + "</svg>"
    )
    return "\n".join(parts)
