"""Server-rendered SVG charts for the reports (no JavaScript, no external fonts).

Each chart has a ``<title>`` and a ``<desc>`` that says in words what the picture shows, so a
screen reader (and the PDF) carry the same information. Colour is never the only cue: intervals
are drawn as lines with end caps, reference lines are dashed and labelled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
LEFT = 170.0
RIGHT = 690.0
ROW = 22.0
TOP = 30.0

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


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _open(height: float, title: str, desc: str, testid: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_num(height)}" role="img" '
        f'class="report-chart" data-testid="{escape(testid)}" style="width:100%;height:auto">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
        f"<style>{STYLE}</style>",
    ]


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _range(values: Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    span = high - low
    return low - pad * span, high + pad * span


def _ticks(low: float, high: float, count: int = 6) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(f * magnitude for f in (1, 2, 2.5, 5, 10) if f * magnitude >= raw)
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step) + 1)]


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
    desc_rows = [
        f"{e.label}: {e.value:.2f} (95% interval {e.low:.2f} to {e.high:.2f}"
        + (f", n = {e.n}" if e.n is not None else "")
        + ")"
        for e in rows
    ]
    parts = _open(height, title, "; ".join(desc_rows) or "No estimates.", testid)
    if not rows:
        parts.append(f'<text class="ch-label" x="{LEFT}" y="{TOP + 14}">No estimates.</text></svg>')
        return "\n".join(parts)
    bounds = [v for e in rows for v in (e.low, e.high)] + (
        [reference] if reference is not None else []
    )
    low, high = _range(bounds)

    def x(value: float) -> float:
        return LEFT + (RIGHT - LEFT) * (value - low) / (high - low)

    bottom = TOP + ROW * len(rows)
    for tick in _ticks(low, high):
        parts.append(
            f'<line class="ch-grid" x1="{_num(x(tick))}" x2="{_num(x(tick))}" y1="{TOP - 6}" '
            f'y2="{_num(bottom)}"/><text class="ch-text" x="{_num(x(tick))}" '
            f'y="{_num(bottom + 14)}" text-anchor="middle">{_num(tick)}</text>'
        )
    if reference is not None:
        parts.append(
            f'<line class="ch-ref" x1="{_num(x(reference))}" x2="{_num(x(reference))}" '
            f'y1="{TOP - 10}" y2="{_num(bottom)}"/><text class="ch-text" x="{_num(x(reference) + 4)}" '
            f'y="{TOP - 14}">{escape(reference_label)}</text>'
        )
    for i, e in enumerate(rows):
        y = TOP + ROW * i + ROW / 2
        label = e.label + (f" (n={e.n})" if e.n is not None else "")
        parts.append(
            f'<g class="ch-row {escape(e.css)}"><text class="ch-label" x="{LEFT - 8}" y="{_num(y + 4)}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<line class="ch-ci" x1="{_num(x(e.low))}" x2="{_num(x(e.high))}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<line class="ch-ci" x1="{_num(x(e.low))}" x2="{_num(x(e.low))}" y1="{_num(y - 4)}" y2="{_num(y + 4)}"/>'
            f'<line class="ch-ci" x1="{_num(x(e.high))}" x2="{_num(x(e.high))}" y1="{_num(y - 4)}" y2="{_num(y + 4)}"/>'
            f'<circle class="ch-point" cx="{_num(x(e.value))}" cy="{_num(y)}" r="4">'
            f"<title>{escape(label)}: {e.value:.2f} [{e.low:.2f}, {e.high:.2f}]</title></circle></g>"
        )
    parts.append(
        f'<line class="ch-axis" x1="{LEFT}" x2="{RIGHT}" y1="{_num(bottom)}" y2="{_num(bottom)}"/>'
        f'<text class="ch-label" x="{RIGHT}" y="{_num(bottom + 34)}" text-anchor="end">'
        f"{escape(axis_label)}</text></svg>"
    )
    return "\n".join(parts)


def trend_svg(
    points: Sequence[Estimate], *, title: str, axis_label: str, testid: str = "trend"
) -> str:
    """A line over periods with a shaded 95% band; periods in the given order."""
    rows = [p for p in points if _finite(p.value, p.low, p.high)]
    height = 260.0
    desc = "; ".join(
        f"{p.label}: {p.value:.2f} ({p.low:.2f} to {p.high:.2f}, n = {p.n})" for p in rows
    )
    parts = _open(height, title, desc or "No periods with enough data.", testid)
    if not rows:
        parts.append(
            '<text class="ch-label" x="60" y="40">No periods with enough data.</text></svg>'
        )
        return "\n".join(parts)
    left, right, top, bottom = 60.0, 690.0, 20.0, 210.0
    low, high = _range([v for p in rows for v in (p.low, p.high)])

    def x(i: int) -> float:
        return left + (right - left) * (i + 0.5) / len(rows)

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - low) / (high - low)

    for tick in _ticks(low, high, 5):
        parts.append(
            f'<line class="ch-grid" x1="{left}" x2="{right}" y1="{_num(y(tick))}" y2="{_num(y(tick))}"/>'
            f'<text class="ch-text" x="{left - 6}" y="{_num(y(tick) + 4)}" text-anchor="end">{_num(tick)}</text>'
        )
    band = [(x(i), y(p.high)) for i, p in enumerate(rows)] + [
        (x(i), y(p.low)) for i, p in reversed(list(enumerate(rows)))
    ]
    parts.append(
        '<polygon class="ch-band" points="'
        + " ".join(f"{_num(a)},{_num(b)}" for a, b in band)
        + '"/>'
    )
    parts.append(
        '<polyline class="ch-line" points="'
        + " ".join(f"{_num(x(i))},{_num(y(p.value))}" for i, p in enumerate(rows))
        + '"/>'
    )
    step = max(1, math.ceil(len(rows) / 12))
    for i, p in enumerate(rows):
        parts.append(
            f'<circle class="ch-point" cx="{_num(x(i))}" cy="{_num(y(p.value))}" r="3.5">'
            f"<title>{escape(p.label)}: {p.value:.2f} [{p.low:.2f}, {p.high:.2f}]</title></circle>"
        )
        if i % step == 0:
            parts.append(
                f'<text class="ch-text" x="{_num(x(i))}" y="{bottom + 16}" text-anchor="middle">'
                f"{escape(p.label)}</text>"
            )
    parts.append(
        f'<line class="ch-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        f'<text class="ch-label" x="12" y="{top + 4}">{escape(axis_label)}</text></svg>'
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
        parts = _open(height, title, "No values.", testid)
        parts.append('<text class="ch-label" x="60" y="40">No values.</text></svg>')
        return "\n".join(parts)
    start = math.floor(min(values) / bin_width) * bin_width
    stop = math.floor(max(values) / bin_width) * bin_width + bin_width
    bins = max(1, round((stop - start) / bin_width))
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - start) // bin_width))] += 1
    below = {label: sum(1 for v in values if v < at) for at, label in markers}
    desc = f"{len(values)} values from {min(values):.1f} to {max(values):.1f}; " + "; ".join(
        f"{count} below {label}" for label, count in below.items()
    )
    parts = _open(height, title, desc, testid)
    peak = max(counts)

    def x(v: float) -> float:
        return left + (right - left) * (v - start) / (stop - start)

    def y(c: float) -> float:
        return bottom - (bottom - top) * c / peak

    for i, count in enumerate(counts):
        lo = start + i * bin_width
        parts.append(
            f'<rect class="ch-bar" x="{_num(x(lo))}" y="{_num(y(count))}" '
            f'width="{_num(x(lo + bin_width) - x(lo))}" height="{_num(bottom - y(count))}">'
            f"<title>{_num(lo)} to {_num(lo + bin_width)}: {count}</title></rect>"
        )
    for tick in _ticks(start, stop, 8):
        parts.append(
            f'<text class="ch-text" x="{_num(x(tick))}" y="{bottom + 14}" text-anchor="middle">{_num(tick)}</text>'
        )
    for at, label in markers:
        if start <= at <= stop:
            parts.append(
                f'<line class="ch-ref" x1="{_num(x(at))}" x2="{_num(x(at))}" y1="{top - 8}" y2="{bottom}"/>'
                f'<text class="ch-text" x="{_num(x(at) + 3)}" y="{top - 10}">{escape(label)}</text>'
            )
    parts.append(
        f'<line class="ch-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
        f'<text class="ch-label" x="{right}" y="{bottom + 34}" text-anchor="end">{escape(axis_label)}</text>'
        f'<text class="ch-text" x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text></svg>'
    )
    return "\n".join(parts)


def calibration_svg(deciles: Sequence[dict], *, title: str, testid: str = "calibration") -> str:
    """Observed rate against mean predicted probability per group; the diagonal is perfect."""
    size, left, top = 300.0, 60.0, 20.0
    height = top + size + 50
    rows = [d for d in deciles if _finite(d.get("mean_predicted"), d.get("observed_rate"))]
    desc = "; ".join(
        f"group {d['group']}: predicted {d['mean_predicted']:.2f}, observed {d['observed_rate']:.2f} (n = {d['n']})"
        for d in rows
    )
    parts = _open(height, title, desc or "No calibration data.", testid)

    def x(p: float) -> float:
        return left + size * p

    def y(p: float) -> float:
        return top + size * (1 - p)

    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line class="ch-grid" x1="{_num(x(tick))}" x2="{_num(x(tick))}" y1="{top}" y2="{top + size}"/>'
            f'<line class="ch-grid" x1="{left}" x2="{left + size}" y1="{_num(y(tick))}" y2="{_num(y(tick))}"/>'
            f'<text class="ch-text" x="{_num(x(tick))}" y="{top + size + 14}" text-anchor="middle">{_num(tick)}</text>'
            f'<text class="ch-text" x="{left - 6}" y="{_num(y(tick) + 4)}" text-anchor="end">{_num(tick)}</text>'
        )
    parts.append(
        f'<line class="ch-ideal" x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}"/>'
        f'<text class="ch-text" x="{_num(x(0.62))}" y="{_num(y(0.7))}">perfect calibration</text>'
    )
    if len(rows) > 1:
        parts.append(
            '<polyline class="ch-line" points="'
            + " ".join(
                f"{_num(x(d['mean_predicted']))},{_num(y(d['observed_rate']))}" for d in rows
            )
            + '"/>'
        )
    for d in rows:
        parts.append(
            f'<circle class="ch-point" cx="{_num(x(d["mean_predicted"]))}" cy="{_num(y(d["observed_rate"]))}" r="4">'
            f"<title>predicted {d['mean_predicted']:.2f}, observed {d['observed_rate']:.2f}, n = {d['n']}</title></circle>"
        )
    parts.append(
        f'<text class="ch-label" x="{_num(left + size / 2)}" y="{top + size + 34}" text-anchor="middle">'
        "Predicted probability of reliable improvement</text>"
        f'<text class="ch-label" x="{_num(left + size + 20)}" y="{top + 14}">Observed rate</text></svg>'
    )
    return "\n".join(parts)
