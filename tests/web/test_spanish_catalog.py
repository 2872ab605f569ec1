"""Spanish, completely: `makemessages` finds nothing new, fuzzy or empty, and no template shows
English words outside a translation tag.

The first test runs Django's own `makemessages -l es` on a copy of the package (the real catalog
is never rewritten) and reads the merged catalog it leaves: every string marked in a template or
a Python module must already be translated, and no entry may come back fuzzy (msgmerge marks an
entry fuzzy when its msgid changed or its placeholders no longer match).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

from tests.feedback.test_feedback_i18n import full_entries

PACKAGE = Path(__file__).resolve().parents[2] / "alliance"
CATALOG = PACKAGE / "locale" / "es" / "LC_MESSAGES" / "django.po"
TEMPLATES = PACKAGE / "templates"


def makemessages_catalog(workdir: Path) -> str:
    """The catalog `django-admin makemessages -l es --no-obsolete` leaves in a copy of the package."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.fail("GNU gettext is missing: scripts/bootstrap installs it (gettext)")
    copy = workdir / "alliance"
    shutil.copytree(
        PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo", "static", "science")
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "es", "--no-obsolete"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return (copy / "locale" / "es" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")


def test_makemessages_leaves_no_new_fuzzy_or_empty_entry(tmp_path):
    merged = full_entries(makemessages_catalog(tmp_path))
    key = lambda e: (e["msgctxt"], e["msgid"])  # noqa: E731
    known = {key(e) for e in full_entries(CATALOG.read_text(encoding="utf-8"))}
    new = sorted(e["msgid"] for e in merged if key(e) not in known)
    fuzzy = sorted(e["msgid"] for e in merged if "fuzzy" in e["flags"])
    empty = sorted(e["msgid"] for e in merged if not e["msgstr"] or not all(e["msgstr"]))
    assert len(merged) > 400
    assert new == [] and fuzzy == [] and empty == []


def english_phrases() -> list[str]:
    """Phrases of two or more words of the catalog's English (between placeholders and tags)
    whose Spanish differs: finding one in a Spanish page or PDF means a string was not
    translated there."""
    phrases = set()
    for entry in full_entries(CATALOG.read_text(encoding="utf-8")):
        if entry["msgstr"] and entry["msgstr"][0] == entry["msgid"]:
            continue
        for piece in re.split(r"%\([a-z_]+\)[sdf]|%%|<[^>]*>|\{[^}]*\}|[\n:;()]", entry["msgid"]):
            piece = " ".join(piece.split()).strip(" .,")
            if len(piece.split()) >= 2 and len(piece) >= 8:
                phrases.add(piece)
    return sorted(phrases)


def test_the_english_phrases_are_whole_pieces_of_the_catalog():
    phrases = english_phrases()
    assert "Log out" not in phrases  # two words, but shorter than a phrase worth checking
    assert "Expected (target)" not in phrases and "Clinical / alliance cutoff" in phrases
    assert len(phrases) > 300


# -- words in templates outside {% translate %} ------------------------------------------------

# Attributes a person reads or hears.
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label", "aria-valuetext", "label"}
# Text that is the same in every language: symbols, figures, units, the product's name, the
# scales' abbreviations and the names of the languages in the language menu.
NEUTRAL = re.compile(
    r"^(?:[\W\d_]|Alliance|ORS|SRS|PHQ-9|GAD-7|ETR|ES|SAES|RCI|CSV|FHIR|PDF|API|n|r|x|×|–|—)*$"
)
WORD = re.compile(r"[A-Za-z]{2,}")


class _Reader(HTMLParser):
    """Collects the text and readable attribute values of an HTML fragment (placeholders for the
    template's variables and tags are already out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"style", "script"}:
            self._skip += 1
        self.found += [value for name, value in attrs if name in READ_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script"}:
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def untranslated_words(source: str) -> list[str]:
    """Text of a template that a person would read and no translation tag covers."""
    outside = []
    in_translation = in_comment = False
    blocks: list[str] = []  # open {% block %} names: a "body_class" block holds CSS classes
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name, *rest = token.contents.split()
            if name == "block":
                blocks.append(rest[0] if rest else "")
            elif name == "endblock" and blocks:
                blocks.pop()
            elif name in {"blocktranslate", "blocktrans"}:
                in_translation = True
            elif name in {"endblocktranslate", "endblocktrans"}:
                in_translation = False
            elif name == "comment":
                in_comment = True
            elif name == "endcomment":
                in_comment = False
            outside.append(" ")
        elif token.token_type == TokenType.TEXT and not (
            in_translation or in_comment or any("class" in block for block in blocks)
        ):
            outside.append(token.contents)
        else:
            outside.append(" ")
    reader = _Reader()
    reader.feed("".join(outside))
    reader.close()
    texts = (" ".join(text.split()) for text in reader.found)
    return [text for text in texts if text and WORD.search(text) and not NEUTRAL.match(text)]


def test_no_template_shows_words_outside_a_translation_tag():
    found = {
        str(path.relative_to(TEMPLATES)): words
        for path in sorted(TEMPLATES.rglob("*.html"))
        if (words := untranslated_words(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def test_the_template_check_finds_a_bare_english_word_and_passes_a_translated_one():
    assert untranslated_words("<p>Save</p>") == ["Save"]
    assert untranslated_words('<img alt="Client graph" src="x.png">') == ["Client graph"]
    assert untranslated_words('{% load i18n %}<p>{% translate "Save" %}</p>') == []
    assert untranslated_words("{% blocktranslate %}Hi {{ n }}{% endblocktranslate %}") == []
    assert untranslated_words("<p>{{ total }} / 40 (ORS)</p><style>.a{color:red}</style>") == []
