"""The focus indicator has at least 3:1 contrast against every surface it can sit on (WCAG 2.2
non-text contrast), computed from the colours in alliance.css (issue 17: the old #f0b429 outline
was 1.86:1 on white)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "alliance" / "static" / "alliance" / "alliance.css"


def channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    hex_ = colour.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    r, g, b = (int(hex_[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def variables(css: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{3,6})\b", css))


def resolve(value: str, names: dict[str, str]) -> str:
    found = re.search(r"var\((--[\w-]+)\)", value)
    if found:
        return names[found.group(1)]
    colour = re.search(r"#[0-9a-fA-F]{3,6}\b", value)
    assert colour, value
    return colour.group(0)


def focus_colours(css: str) -> list[str]:
    """The outline colour of every :focus / :focus-visible rule."""
    names = variables(css)
    colours = []
    for _selector, body in re.findall(r"([^{}]*:focus[^{}]*)\{([^}]*)\}", css):
        outline = re.search(r"outline(?:-color)?:\s*([^;]+)", body)
        if outline and "none" not in outline.group(1):
            colours.append(resolve(outline.group(1), names))
    return colours


def surfaces(css: str) -> set[str]:
    """Light surfaces the ring can sit next to: the page, cards and every tinted background (the
    filled primary buttons, the safety badge and the mark on a line are left out: the ring is
    drawn 2px outside the control, on the page)."""
    names = variables(css)
    found = {names["--bg"], names["--card"], "#ffffff"}
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        # Filled controls (primary buttons, the safety badge link) carry the ring outside them.
        if any(part in selector for part in ("primary", "badge-safety", ":focus", "::")):
            continue
        for value in re.findall(r"background(?:-color)?:\s*([^;]+)", body):
            if "gradient" in value or "transparent" in value or "none" in value:
                continue
            found.add(resolve(value, names))
    return found


def test_the_contrast_formula_matches_known_pairs():
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#f0b429", "#ffffff") == pytest.approx(1.86, abs=0.01)


def test_the_focus_ring_has_at_least_three_to_one_against_every_surface():
    css = CSS.read_text(encoding="utf-8")
    rings = focus_colours(css)
    assert rings, "no focus outline found"
    backgrounds = surfaces(css)
    assert "#f7f8fa" in backgrounds and "#fff8eb" in backgrounds
    for ring in rings:
        for background in backgrounds:
            assert contrast(ring, background) >= 3.0, (ring, background)


def test_the_check_would_catch_the_old_yellow_ring():
    old = ":root { --bg: #f7f8fa; --card: #fff; }\n:focus-visible { outline: 3px solid #f0b429; }"
    (ring,) = focus_colours(old)
    assert min(contrast(ring, b) for b in surfaces(old)) < 3.0
