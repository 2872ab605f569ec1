"""What axe alone misses on every main page (issue 17): ids are unique, every form control has an
accessible name, and a table that may scroll sideways on a phone sits in a keyboard-focusable,
named region."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.test import Client as Browser

from tests.web.main_pages import MainPage, build_main_pages

pytestmark = pytest.mark.django_db

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Control:
    tag: str
    attrs: dict[str, str]
    in_label: bool
    text: str = ""


@dataclass
class Structure(HTMLParser):
    """Ids, labels, controls and table wrappers of one HTML page."""

    ids: list[str] = field(default_factory=list)
    label_for: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)  # element id -> its text
    controls: list[Control] = field(default_factory=list)
    tables: list[dict[str, str] | None] = field(default_factory=list)  # wrapper attrs per table

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.open_text: list[tuple[str, list[str]]] = []  # (id or "", text parts)
        self.button: Control | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "label" and attributes.get("for"):
            self.label_for.add(attributes["for"])
        in_label = any(open_tag == "label" for open_tag, _ in self.stack)
        hidden = tag == "input" and attributes.get("type") == "hidden"
        if tag in ("input", "select", "textarea", "button") and not hidden:
            control = Control(tag, attributes, in_label)
            self.controls.append(control)
            if tag == "button":
                self.button = control
        if tag == "table":
            parent = self.stack[-1][1] if self.stack else {}
            wrapped = "table-wrap" in parent.get("class", "").split()
            self.tables.append(parent if wrapped else None)
        if tag not in VOID:
            self.stack.append((tag, attributes))
            self.open_text.append((attributes.get("id", ""), []))

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _ = self.stack.pop()
            element_id, parts = self.open_text.pop()
            text = " ".join("".join(parts).split())
            if element_id:
                self.texts[element_id] = text
            if self.open_text:
                self.open_text[-1][1].append(" " + text + " ")
            if open_tag == "button" and self.button is not None:
                self.button.text = text
                self.button = None
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self.open_text:
            self.open_text[-1][1].append(data)

    def accessible_name(self, control: Control) -> str:
        attrs = control.attrs
        if attrs.get("aria-label", "").strip():
            return attrs["aria-label"]
        if attrs.get("aria-labelledby"):
            return " ".join(self.texts.get(i, "") for i in attrs["aria-labelledby"].split()).strip()
        if attrs.get("id") in self.label_for or control.in_label:
            return "label"
        if control.tag == "button":
            return control.text
        if attrs.get("type") in ("submit", "button", "reset"):
            return attrs.get("value", "")
        return attrs.get("title", "")


def fetch(page: MainPage, personas) -> str:
    browser = Browser(HTTP_ACCEPT_LANGUAGE="en")
    if page.actor is not None:
        browser.force_login(getattr(personas, page.actor))
    if page.kiosk is not None:
        kiosk_path, code, pin = page.kiosk
        assert browser.post(kiosk_path, {"code": code, "pin": pin}).status_code == 302
    response = browser.get(page.path)
    assert response.status_code == 200, (page.name, response.status_code)
    return response.content.decode()


def parse(html: str) -> Structure:
    structure = Structure()
    structure.feed(html)
    structure.close()
    return structure


def test_every_main_page_has_unique_ids_named_controls_and_focusable_table_regions(personas):
    pages = build_main_pages(personas)
    problems: list[str] = []
    controls = 0
    for page in pages:
        structure = parse(fetch(page, personas))
        seen: set[str] = set()
        for element_id in structure.ids:
            if element_id in seen:
                problems.append(f"{page.name}: duplicate id {element_id!r}")
            seen.add(element_id)
        for control in structure.controls:
            controls += 1
            if not structure.accessible_name(control).strip():
                problems.append(f"{page.name}: {control.tag} {control.attrs} has no name")
        for wrapper in structure.tables:
            named = (wrapper or {}).get("aria-label") or (wrapper or {}).get("aria-labelledby")
            if wrapper is not None and not (
                wrapper.get("tabindex") == "0" and wrapper.get("role") == "region" and named
            ):
                problems.append(f"{page.name}: table wrapper {wrapper} is not a focusable region")
    assert problems == [], "\n".join(problems)
    assert controls > 100  # the pages were really read


def test_the_srs_relationship_line_and_the_paper_relationship_box_have_their_own_names(
    personas,
):
    pages = {page.name: page for page in build_main_pages(personas)}
    structure = parse(fetch(pages["session ORS and SRS"], personas))
    line = next(c for c in structure.controls if c.attrs.get("name") == "srs-relationship")
    box = next(
        c
        for c in structure.controls
        if c.attrs.get("name") == "relationship" and c.attrs.get("id", "").startswith("srs")
    )
    assert line.attrs["id"] != box.attrs["id"]
    assert line.attrs["id"] in structure.label_for and box.attrs["id"] in structure.label_for


def test_the_checker_finds_a_duplicate_id_a_nameless_control_and_a_bare_table_wrapper():
    structure = parse(
        '<p id="a"></p><div id="a"><input type="text" name="x"><label>Y <input name="y">'
        '</label><button aria-label="Go"></button><button></button></div>'
        '<div class="table-wrap"><table></table></div>'
    )
    assert structure.ids == ["a", "a"]
    names = [bool(structure.accessible_name(c).strip()) for c in structure.controls]
    assert names == [False, True, True, False]
    assert structure.tables == [{"class": "table-wrap"}]
