"""The Spanish catalog is complete and compiled; English stays the fallback."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.utils import translation

CATALOG = Path(__file__).resolve().parents[2] / "alliance" / "locale" / "es" / "LC_MESSAGES"


def entries(po: str) -> list[tuple[str, list[str], str]]:
    """(msgid, msgstrs, flags) of every entry (the header excluded)."""
    found = []
    for block in po.split("\n\n"):
        lines = [line for line in block.strip().splitlines() if line]
        flags = " ".join(line for line in lines if line.startswith("#,"))
        ids = [ast.literal_eval(m) for m in re.findall(r'^msgid (".*")$', block, re.M)]
        strs = [ast.literal_eval(m) for m in re.findall(r'^msgstr(?:\[\d\])? (".*")$', block, re.M)]
        if ids and ids[0]:
            found.append((ids[0], strs, flags))
    return found


def test_every_ui_string_has_a_spanish_translation_and_none_is_fuzzy():
    po = (CATALOG / "django.po").read_text(encoding="utf-8")
    found = entries(po)
    assert len(found) > 400
    untranslated = [msgid for msgid, strs, _flags in found if not all(strs)]
    fuzzy = [msgid for msgid, _strs, flags in found if "fuzzy" in flags]
    assert untranslated == [] and fuzzy == []


def test_the_compiled_catalog_is_used_for_spanish_and_english_is_the_fallback():
    assert (CATALOG / "django.mo").stat().st_mtime >= (CATALOG / "django.po").stat().st_mtime - 1
    with translation.override("es"):
        assert translation.gettext("Log out") == "Cerrar sesión"
        assert translation.gettext("not yet rated") == "aún sin valorar"
    with translation.override("en"):
        assert translation.gettext("not yet rated") == "not yet rated"
