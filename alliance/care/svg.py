"""Building blocks of the server-drawn SVG pictures: the progress graph (``care.graph``) and the
report charts (``reports.charts``).

Every picture is an ``<svg role="img">`` whose ``<title>`` and ``<desc>`` carry in words what it
shows. Elements are made by ``tag``, which formats numbers one way (``num``) and escapes every
text and attribute value, so no caller writes markup, coordinates or escaping by hand. Numbers a
person reads go through ``figure`` (the active language's decimal separator).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

from django.utils import formats

SVG_NAMESPACE = "http://www.w3.org/2000/svg"


def num(value: float | None) -> str:
    """Compact coordinates: at most two decimals, no trailing zeros ("" for no value)."""
    if value is None:
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def interval(low: str, high: str) -> str:
    """An interval's two figures as a table cell shows them: "0.31 – 1.75"; a single "–" when
    neither end could be estimated (too few cases), not "– – –"."""
    if low in ("", "–") and high in ("", "–"):
        return "–"
    return f"{low} – {high}"


def figure(value: float | None, digits: int | None = None) -> str:
    """A number as a person reads it in the active language: "12,5" in Spanish, "12.5" in
    English (no thousands separator). ``digits`` fixes the decimals; without it, as ``num``.

    Only for text a person reads (labels, titles, descriptions, table cells): coordinates,
    ``data-`` attributes and form values keep ``num``'s dot, which scripts and parsers read.
    """
    if value is None:
        return ""
    text = num(value) if digits is None else f"{value:.{digits}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]  # "-0.00" reads as 0
    return text.replace(".", str(formats.get_format("DECIMAL_SEPARATOR")))


def _attribute(name: str, value: object) -> str:
    # class_ -> class, text_anchor -> text-anchor, data_session -> data-session
    name = name.rstrip("_").replace("_", "-")
    if isinstance(value, float):
        value = num(value)
    return f'{name}="{escape(str(value))}"'


def tag(name: str, *children: str, text: str | None = None, **attributes: object) -> str:
    """One element: ``children`` are markup made by ``tag``, ``text`` is escaped.

    Attributes whose value is None are left out; floats go through ``num``.
    """
    shown = " ".join(_attribute(k, v) for k, v in attributes.items() if v is not None)
    opening = f"<{name} {shown}" if shown else f"<{name}"
    inside = "".join(children) + (escape(text) if text is not None else "")
    if not inside:
        return opening + "/>"
    return f"{opening}>{inside}</{name}>"


def title(text: str) -> str:
    """A ``<title>``: the tooltip of the element it is in, read out by screen readers."""
    return tag("title", text=text)


def points(pairs: Sequence[tuple[float, float]]) -> str:
    """The ``points`` attribute of a polyline or polygon."""
    return " ".join(f"{num(x)},{num(y)}" for x, y in pairs)


# Attributes forwarded to ``tag`` are typed Any, not object: mypy would otherwise match the
# mapping against ``tag``'s ``text`` keyword (str | None), which no caller passes through it.
def line(css: str, x1: float, x2: float, y1: float, y2: float, **attributes: Any) -> str:
    return tag(
        "line", class_=css, x1=float(x1), x2=float(x2), y1=float(y1), y2=float(y2), **attributes
    )


def label(
    css: str, x: float, y: float, text: str, *, anchor: str | None = None, **attributes: object
) -> str:
    """A ``<text>`` at (x, y); ``anchor`` is its ``text-anchor``."""
    return tag(
        "text", text=text, class_=css, x=float(x), y=float(y), text_anchor=anchor, **attributes
    )


def document(
    width: float, height: float, heading: str, description: str, style: str, **attributes: object
) -> list[str]:
    """The opening of a picture: the element, its title, its description and its style.

    The caller appends the drawing and ``"</svg>"`` and joins the parts with newlines.
    """
    shown = " ".join(_attribute(k, v) for k, v in attributes.items())
    return [
        f'<svg xmlns="{SVG_NAMESPACE}" viewBox="0 0 {num(width)} {num(height)}" role="img" '
        f'{shown} style="width:100%;height:auto">',
        title(heading),
        tag("desc", text=description),
        f"<style>{style}</style>",
    ]


def nice_step(
    span: float, count: int, factors: Sequence[float] = (1, 2, 5, 10), *, whole: bool = False
) -> float:
    """The smallest of factor x 10^k (k such that factor 1 is just below) at least span / count.

    ``whole``: never below 1 (sessions and raw scores are counted in whole numbers).
    """
    if span <= 0:
        return 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    if whole:
        magnitude = max(magnitude, 1)
    return float(next((f * magnitude for f in factors if f * magnitude >= raw), 10 * magnitude))


def ticks(low: float, high: float, step: float) -> list[float]:
    """The multiples of ``step`` from ``low`` to ``high``."""
    start = math.ceil(low / step) * step
    return [start + i * step for i in range(int((high - start) / step) + 1)]


def value_grid(
    values: Sequence[float],
    to_position: Callable[[float], float],
    *,
    across: tuple[float, float],
    css: str,
    label_css: str,
    vertical: bool = False,
    label_at: float,
    label_offset: float = 0.0,
    **label_attributes: Any,  # forwarded to ``label``, see ``line``
) -> list[str]:
    """A grid line and a tick label per value.

    Horizontal lines (values up the y axis) run ``across`` x; with ``vertical`` (values along the
    x axis) they run ``across`` y. The labels stand at ``label_at`` on the other axis, each moved
    along its own axis by ``label_offset``.
    """
    parts = []
    for value in values:
        at = to_position(value)
        if vertical:
            parts.append(line(css, at, at, *across))
            parts.append(
                label(label_css, at + label_offset, label_at, figure(value), **label_attributes)
            )
        else:
            parts.append(line(css, *across, at, at))
            parts.append(
                label(label_css, label_at, at + label_offset, figure(value), **label_attributes)
            )
    return parts
