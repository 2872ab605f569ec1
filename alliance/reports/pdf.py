"""Printable PDF reports rendered by WeasyPrint from the same templates and inline SVG graphs.

Nothing is fetched while rendering: the URL fetcher refuses every URL, the CSS is inline.
"""

from __future__ import annotations

from django.template.loader import render_to_string


class _NoFetch(Exception):
    pass


def _refuse(url: str, *args, **kwargs):  # noqa: ARG001
    raise _NoFetch(f"PDF rendering does not fetch {url!r}")


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported lazily: pango start-up costs ~0.5 s

    return HTML(string=html, url_fetcher=_refuse).write_pdf()


def render_pdf(template: str, context: dict) -> bytes:
    return html_to_pdf(render_to_string(template, context))
