"""The English phrases of the Spanish catalog, to check that a Spanish page shows none of them.

A tiny reader of ``django.po`` (no polib in the project): msgctxt, msgid, msgid_plural and
msgstr[n] with their continuation lines; fuzzy and obsolete entries are left out, as gettext does.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CATALOG = (
    Path(__file__).resolve().parents[2] / "alliance" / "locale" / "es" / "LC_MESSAGES" / "django.po"
)
# What a page fills in or marks up: placeholders (%(name)s, %s, {name}), HTML tags, entities.
NOT_TEXT = re.compile(r"%\([a-z_]+\)[sdfr]|%[sdf%]|\{[a-z_]*\}|<[^>]+>|&[a-z]+;|&#\d+;")
# A fragment counts as English words when it has a word of three letters or more.
WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class Entry:
    msgid: str
    msgid_plural: str
    msgstrs: tuple[str, ...]
    fuzzy: bool


def entries(path: Path = CATALOG) -> list[Entry]:
    found = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        fields: dict[str, str] = {}
        strs: list[str] = []
        fuzzy = False
        current = ""
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if not line or line.startswith("#"):
                continue
            if line.startswith('"'):
                value = ast.literal_eval(line)
                if current == "msgstr":
                    strs[-1] += value
                else:
                    fields[current] += value
                continue
            keyword, _, value = line.partition(" ")
            current = "msgstr" if keyword.startswith("msgstr") else keyword
            if current == "msgstr":
                strs.append(ast.literal_eval(value))
            else:
                fields[current] = ast.literal_eval(value)
        if fields.get("msgid"):
            found.append(Entry(fields["msgid"], fields.get("msgid_plural", ""), tuple(strs), fuzzy))
    return found


def fragments(text: str) -> list[str]:
    """The literal parts of a message between its placeholders and tags, trimmed."""
    parts = (part.strip(" \t\n.,:;!?()[]\"'«»“”‘’–—-·…/") for part in NOT_TEXT.split(text))
    return [part for part in parts if WORD.search(part)]


def english_phrases(path: Path = CATALOG) -> set[str]:
    """Every English phrase of the catalog that a Spanish page must not show.

    Left out: messages identical in both languages ("ORS", "Total"), fragments too short to be
    words, and fragments that the Spanish translation itself contains (a name such as "PHQ-9").
    """
    phrases: set[str] = set()
    for entry in entries(path):
        if entry.fuzzy or not any(entry.msgstrs):
            continue
        sources = [entry.msgid, *([entry.msgid_plural] if entry.msgid_plural else [])]
        if any(source in entry.msgstrs for source in sources):
            continue
        for source in sources:
            for fragment in fragments(source):
                if not any(fragment in msgstr for msgstr in entry.msgstrs):
                    phrases.add(fragment)
    return phrases


def spanish_phrases(msgids: Iterable[str], path: Path = CATALOG) -> dict[str, str]:
    """The Spanish translation of each of ``msgids`` (KeyError for one not in the catalog)."""
    table = {entry.msgid: entry.msgstrs[0] for entry in entries(path) if not entry.fuzzy}
    return {msgid: table[msgid] for msgid in msgids}


def found_in(text: str, phrases: Iterable[str]) -> list[str]:
    """The phrases that occur in ``text`` as whole words (case-sensitive): "Client" is not found
    in "Cliente", nor "Change" in "Changed"."""
    return sorted(
        phrase
        for phrase in phrases
        if re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text) is not None
    )
