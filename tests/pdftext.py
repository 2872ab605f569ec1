"""The text of a PDF that WeasyPrint wrote, for tests that read what a PDF says.

No PDF reader is installed, and WeasyPrint writes a small, regular subset of PDF: Type0 fonts
with a ToUnicode map each, text shown by ``Tj``/``TJ`` with hexadecimal glyph strings, objects in
plain or compressed object streams. This reads that subset, line by line (a ``Tm``/``Td`` move to
a new baseline starts a new line), and fails loudly on anything else rather than guess.
"""

from __future__ import annotations

import re
import zlib

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)\s*endobj", re.S)
_STREAM = re.compile(rb"^(.*?)stream\r?\n(.*)\r?\nendstream$", re.S)
_REF = r"/{name}\s+(\d+)\s+0\s+R"


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Object number -> (dictionary text, decompressed stream or None)."""
    found: dict[int, tuple[bytes, bytes | None]] = {}
    for number, body in _OBJECT.findall(pdf):
        stream = _STREAM.match(body)
        if stream is None:
            found[int(number)] = (body, None)
            continue
        head, data = stream.groups()
        if b"/FlateDecode" in head:
            data = zlib.decompress(data)
        found[int(number)] = (head, data)
    for head, data in list(found.values()):
        if data is not None and b"/ObjStm" in head:
            first = int(re.search(rb"/First\s+(\d+)", head).group(1))  # type: ignore[union-attr]
            header = [int(n) for n in data[:first].split()]
            pairs = list(zip(header[::2], header[1::2], strict=True))
            for index, (number, offset) in enumerate(pairs):
                end = pairs[index + 1][1] if index + 1 < len(pairs) else len(data) - first
                found[number] = (data[first + offset : first + end].strip(), None)
    return found


def _unicode_map(cmap: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for glyph, text in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            mapping[int(glyph, 16)] = bytes.fromhex(text.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, start in re.findall(
            rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block
        ):
            for offset in range(int(high, 16) - int(low, 16) + 1):
                mapping[int(low, 16) + offset] = chr(int(start, 16) + offset)
    return mapping


def pdf_text(pdf: bytes) -> str:
    """Every line of text of every page, in drawing order, joined by newlines."""
    objects = _objects(pdf)
    everything = b"\n".join(head for head, _ in objects.values()).decode("latin-1")
    fonts: dict[str, dict[int, str]] = {}

    def font(name: str) -> dict[int, str]:
        if name not in fonts:
            reference = re.search(_REF.format(name=re.escape(name)), everything)
            assert reference, f"font {name} not found"
            font_head = objects[int(reference.group(1))][0].decode("latin-1")
            cmap = re.search(_REF.format(name="ToUnicode"), font_head)
            assert cmap, f"font {name} has no ToUnicode map"
            data = objects[int(cmap.group(1))][1]
            assert data is not None
            fonts[name] = _unicode_map(data)
        return fonts[name]

    lines: list[str] = []
    for head, data in objects.values():
        if data is None or b"/ObjStm" in head or b"BT" not in data or b"Tf" not in data:
            continue
        current: dict[int, str] = {}
        line: list[str] = []
        last_y: str | None = None
        operation = re.compile(
            rb"/([A-Za-z0-9+_-]+)\s+[\d.]+\s+Tf|([-\d.]+)\s+([-\d.]+)\s+Tm|"
            rb"([-\d.]+)\s+([-\d.]+)\s+T[dD]|(\[.*?\])\s*TJ|(<[0-9a-fA-F]*>)\s*Tj"
        )
        for match in operation.finditer(data):
            name, _, tm_y, _, td_y, array, single = match.groups()
            if name:
                current = font(name.decode())
            elif tm_y is not None or td_y is not None:
                y = (tm_y or b"").decode()
                if td_y is not None or y != last_y:
                    if line:
                        lines.append("".join(line))
                    line = []
                last_y = y if tm_y is not None else last_y
            else:
                shown = array or single
                for hexes in re.findall(rb"<([0-9a-fA-F]*)>", shown):
                    width = 4
                    for at in range(0, len(hexes), width):
                        line.append(current.get(int(hexes[at : at + width], 16), "\ufffd"))
        if line:
            lines.append("".join(line))
    return "\n".join(lines)
