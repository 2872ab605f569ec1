"""Extension points of the care pages: apps built on care add to them without care importing them.

``session_page`` is sent while the therapist's session page is built, with ``request`` and
``session``; each receiver answers a dict that joins the page's context. The feedback app answers
with its panel of form links and kiosk passes (connected in ``FeedbackConfig.ready``).
"""

from __future__ import annotations

from typing import cast

from django.dispatch import Signal
from django.http import HttpRequest

from .models import Session

session_page = Signal()


def session_page_context(request: HttpRequest, session: Session) -> dict[str, object]:
    context: dict[str, object] = {}
    for _receiver, answer in session_page.send(sender=Session, request=request, session=session):
        # Receivers answer a dict of context (or None); Signal.send cannot say so.
        context.update(cast("dict[str, object] | None", answer) or {})
    return context
