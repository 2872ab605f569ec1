"""The Spanish catalog is complete and compiled; English stays the fallback."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation.template import templatize

PACKAGE = Path(__file__).resolve().parents[2] / "alliance"
CATALOG = PACKAGE / "locale" / "es" / "LC_MESSAGES"
# The keywords `manage.py makemessages` passes to xgettext for the "django" domain.
XGETTEXT_KEYWORDS = [
    "--keyword=gettext_noop",
    "--keyword=gettext_lazy",
    "--keyword=ngettext_lazy:1,2",
    "--keyword=pgettext:1c,2",
    "--keyword=npgettext:1c,2,3",
    "--keyword=pgettext_lazy:1c,2",
    "--keyword=npgettext_lazy:1c,2,3",
]


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


def full_entries(po: str) -> list[dict[str, Any]]:
    """Every entry with continuation lines joined: msgctxt, msgid, msgid_plural, msgstrs, flags."""
    found = []
    for block in re.split(r"\n\s*\n", po):
        entry: dict[str, Any] = {
            "msgctxt": None,
            "msgid": None,
            "msgid_plural": None,
            "msgstr": [],
            "flags": "",
        }
        current = "msgid"
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = f"{entry['flags']} {line[2:]}"
            elif line.startswith("#") or not line.strip():
                continue
            elif line.startswith('"'):
                value = ast.literal_eval(line)
                if current == "msgstr":
                    entry["msgstr"][-1] += value
                else:
                    entry[current] += value
            else:
                keyword, _, value = line.partition(" ")
                current = "msgstr" if keyword.startswith("msgstr") else keyword
                if current == "msgstr":
                    entry["msgstr"].append(ast.literal_eval(value))
                else:
                    entry[current] = ast.literal_eval(value)
        if entry["msgid"]:
            found.append(entry)
    return found


def test_no_entry_is_untranslated_or_fuzzy_even_when_wrapped_and_plurals_are_complete():
    po = (CATALOG / "django.po").read_text(encoding="utf-8")
    header = re.search(r"nplurals=(\d+)", po)
    assert header is not None
    nplurals = int(header.group(1))
    found = full_entries(po)
    assert len(found) > 400
    untranslated = [e["msgid"] for e in found if not e["msgstr"] or not all(e["msgstr"])]
    fuzzy = [e["msgid"] for e in found if "fuzzy" in e["flags"]]
    short_plurals = [
        e["msgid"] for e in found if e["msgid_plural"] and len(e["msgstr"]) != nplurals
    ]
    assert untranslated == [] and fuzzy == [] and short_plurals == []


def test_translations_keep_every_placeholder_and_html_tag():
    placeholder = re.compile(r"%\([a-z_]+\)[sdf]|\{[a-z_]*\}|%[sd]")
    tag = re.compile(r"</?[a-z][a-z0-9]*")
    broken = []
    for entry in full_entries((CATALOG / "django.po").read_text(encoding="utf-8")):
        source = f"{entry['msgid']} {entry['msgid_plural'] or ''}"
        for msgstr in entry["msgstr"]:
            if set(placeholder.findall(msgstr)) != set(placeholder.findall(source)) or sorted(
                tag.findall(msgstr)
            ) != sorted(tag.findall(entry["msgid"])):
                broken.append(entry["msgid"])
    assert broken == []


def test_every_translatable_string_in_the_source_is_in_the_catalog(tmp_path):
    """What `makemessages` would extract now is already in the catalog (no string added since)."""
    if shutil.which("xgettext") is None:
        pytest.fail("GNU gettext's xgettext is missing: scripts/bootstrap installs it (gettext)")
    sources = []
    for path in sorted(PACKAGE.rglob("*")):
        if (
            path.suffix not in {".py", ".html", ".txt"}
            or "locale" in path.parts
            or not path.is_file()
        ):
            continue
        if path.suffix == ".py":
            sources.append(str(path))
        else:
            work = tmp_path / f"{len(sources)}.py"
            work.write_text(
                templatize(path.read_text(encoding="utf-8"), origin=str(path)), encoding="utf-8"
            )
            sources.append(str(work))
    files = tmp_path / "files.txt"
    files.write_text("\n".join(sources), encoding="utf-8")
    pot = subprocess.run(
        [
            "xgettext",
            "-d",
            "django",
            "--language=Python",
            *XGETTEXT_KEYWORDS,
            "--from-code=UTF-8",
            "--no-wrap",
            "--output=-",
            f"--files-from={files}",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    key = lambda e: (e["msgctxt"], e["msgid"])  # noqa: E731
    in_catalog = {key(e) for e in full_entries((CATALOG / "django.po").read_text(encoding="utf-8"))}
    missing = sorted(str(key(e)[1]) for e in full_entries(pot) if key(e) not in in_catalog)
    assert len(sources) > 100 and missing == []
