"""A Spanish-speaking client completes the ORS and the SRS by link on a phone without reading one
English word (issue 13): every page they see is checked against every English phrase of the
catalog and every English text of the two forms, while the Spanish ones are there. The phone's
browser itself is English: the client's stored language decides. Switching the language on the
form keeps the lines already set and stores nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from playwright.sync_api import Browser, BrowserContext, Page, expect

from alliance.care import services
from alliance.care.models import Administration
from alliance.feedback import services as feedback
from alliance.science.instruments import DATA_DIR, Instrument, load_file
from tests.browser.catalog import english_phrases, found_in, spanish_phrases
from tests.browser.fixtures import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
FORMS = ("ors", "srs")
# Catalog phrases every Spanish client page must show (in Spanish).
CLIENT_WORDS = ("Send", "Language", "Change", "Thank you")

# The texts of a page a person reads or hears: the visible text, the page title, and what
# assistive technology reads out (labels, value texts, titles, alternatives, placeholders).
PAGE_TEXT = """() => {
    const exempt = [];
    document.querySelectorAll('body [lang]:not([lang|="es"])').forEach((el) => {
        exempt.push({lang: el.getAttribute("lang"), text: el.innerText || el.textContent});
    });
    const spoken = [];
    document.querySelectorAll("[aria-label], [aria-valuetext], [title], [alt], [placeholder]")
        .forEach((el) => {
            for (const name of ["aria-label", "aria-valuetext", "title", "alt", "placeholder"]) {
                if (el.hasAttribute(name)) { spoken.push(el.getAttribute(name)); }
            }
        });
    return {
        lang: document.documentElement.getAttribute("lang"),
        title: document.title,
        body: document.body.innerText,
        spoken: spoken,
        exempt: exempt,
    };
}"""


def texts(instrument: Instrument) -> Iterator[str]:
    """The texts of a form a person reads (its abbreviation aside, which is the same in both)."""
    yield from (instrument.name, instrument.instructions, instrument.copyright)
    for item in instrument.items:
        yield from (item.label, item.prompt, item.anchor_low, item.anchor_high, item.description)
        yield from item.choices


def english_form_texts() -> set[str]:
    found = set()
    for code in FORMS:
        spanish = set(texts(load_file(DATA_DIR / f"{code}.es.toml")))
        found |= {
            t for t in texts(load_file(DATA_DIR / f"{code}.en.toml")) if t and t not in spanish
        }
    return found


def phone(browser: Browser, base_url: str) -> BrowserContext:
    """A touch phone whose browser speaks English: only the client's language may make it Spanish."""
    context = browser.new_context(
        base_url=base_url,
        viewport=PHONE,
        has_touch=True,
        is_mobile=True,
        locale="en-US",
        extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


class SpanishReader:
    """Reads every page the client sees and keeps what was wrong with it."""

    def __init__(self) -> None:
        self.english = english_phrases() | english_form_texts()
        self.language_names = {name for _code, name in settings.LANGUAGES}
        self.problems: list[str] = []
        self.pages = 0

    def read(self, page: Page, *expected: str) -> str:
        seen = page.evaluate(PAGE_TEXT)
        self.pages += 1
        where = f"page {self.pages} ({seen['title']})"  # never the address: it holds the token
        text = seen["body"]
        # A language's own name, marked with its language (the switch's "English"), is no
        # English sentence: it is taken out once, and must be nothing but a language's name.
        for exempt in seen["exempt"]:
            names = {line.strip() for line in exempt["text"].splitlines() if line.strip()}
            if not names <= self.language_names:
                self.problems.append(f"{where}: lang={exempt['lang']} holds {names}")
            for name in names:
                text = text.replace(name, "", 1)
        everything = "\n".join([seen["title"], text, *seen["spoken"]])
        if seen["lang"] != "es":
            self.problems.append(f'{where}: <html lang="{seen["lang"]}">')
        english = found_in(everything, self.english)
        if english:
            self.problems.append(f"{where}: English {english}")
        missing = [phrase for phrase in expected if phrase not in everything]
        if missing:
            self.problems.append(f"{where}: Spanish missing {missing}")
        return everything


def tap_every_line(page: Page) -> None:
    """One tap on each line, as a client does with a thumb (different places on each)."""
    lines = page.locator("input[type=range]").all()
    assert len(lines) == 4
    for index, line in enumerate(lines):
        line.scroll_into_view_if_needed()
        box = line.bounding_box()
        assert box is not None
        page.touchscreen.tap(
            box["x"] + box["width"] * (0.55 + 0.1 * index), box["y"] + box["height"] / 2
        )


def test_a_spanish_client_completes_ors_and_srs_by_link_on_a_phone_without_one_english_word(
    browser: Browser, live_server, personas
) -> None:
    client = personas.tara_client
    client.language = "es"
    client.save(update_fields=["language"])
    session = services.start_session(personas.tara, client)
    links = {code: feedback.create_link(personas.tara, session, instrument=code) for code in FORMS}
    assert {new.link.language for new in links.values()} == {"es"}
    words = spanish_phrases(CLIENT_WORDS)
    reader = SpanishReader()
    assert len(reader.english) > 500  # the whole catalog, not a sample

    context = phone(browser, live_server.url)
    page = context.new_page()
    for code in FORMS:
        spanish = load_file(DATA_DIR / f"{code}.es.toml")
        page.goto(f"/f/{links[code].token}/")
        expect(page.get_by_role("button", name=words["Send"])).to_be_visible()
        shown = [spanish.name, spanish.instructions, words["Language"], words["Change"]]
        shown += [item.label for item in spanish.items]
        shown += [item.anchor_low for item in spanish.items] + [spanish.items[0].anchor_high]
        shown += [item.description for item in spanish.items if item.description]
        reader.read(page, *shown)
        # Sending too early is refused in Spanish as well.
        page.get_by_role("button", name=words["Send"]).tap()
        expect(page.locator(".rate-all-message")).to_be_visible()
        reader.read(page, spanish.name)
        tap_every_line(page)
        reader.read(page, spanish.name)
        page.get_by_role("button", name=words["Send"]).tap()
        expect(page.get_by_role("heading", name=words["Thank you"])).to_be_visible()
        reader.read(page, words["Thank you"], words["Language"])
    context.close()

    assert reader.problems == []
    stored = Administration.objects.filter(session=session)
    assert sorted(stored.values_list("instrument", flat=True)) == ["ors", "srs"]
    assert set(stored.values_list("entry_mode", flat=True)) == {"link"}


def test_switching_the_language_on_the_phone_keeps_the_lines_already_set(
    browser: Browser, live_server, personas
) -> None:
    session = services.start_session(personas.tara, personas.tara_client)
    new = feedback.create_link(personas.tara, session, instrument="ors", language="en")
    context = phone(browser, live_server.url)
    page = context.new_page()
    page.goto(f"/f/{new.token}/")
    lines = page.locator("input[type=range]")
    for index in (0, 2):  # Individually and Socially set; the other two not yet
        box = lines.nth(index).bounding_box()
        assert box is not None
        page.touchscreen.tap(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    before = [lines.nth(i).input_value() for i in (0, 2)]
    page.get_by_label("Language").select_option("es")
    page.get_by_role("button", name="Change").tap()
    expect(page.get_by_role("button", name="Enviar")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "es"
    expect(page.locator("label[for=ors-item-individually]")).to_contain_text("Individualmente")
    assert [lines.nth(i).input_value() for i in (0, 2)] == before
    assert page.locator(".vas.unset").count() == 2  # still not rated: nothing was invented
    assert not Administration.objects.exists()
    # Back to English and on: the two lines stay, the other two are set now, and one rating goes.
    page.get_by_label("Idioma").select_option("en")
    page.get_by_role("button", name="Cambiar").tap()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    assert [lines.nth(i).input_value() for i in (0, 2)] == before
    for index in (1, 3):
        box = lines.nth(index).bounding_box()
        assert box is not None
        page.touchscreen.tap(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.get_by_role("button", name="Send").tap()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    stored = Administration.objects.get()
    assert [stored.items["individually"], stored.items["socially"]] == [float(v) for v in before]
    assert stored.total == pytest.approx(sum(stored.items.values()))
    context.close()
