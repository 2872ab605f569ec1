"""The state of one instrument form: the therapist's session page and the client's own forms
(links, kiosk, groups of the feedback app) fill in the same rating form.

A rating needs an explicit choice on every line: the sliders start "not yet rated", and a form
that was not touched is never stored as a rating of 5.0. With JavaScript the page tracks which
lines were moved; without it the client ticks a required confirmation.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Count, Max
from django.utils.translation import gettext as _

from alliance.science.instruments import Instrument

from .models import Administration, Session

CONFIRM_FIELD = "confirmed"


class NotRated(ValueError):
    """The form was sent without an explicit choice on every line."""


@dataclass
class FormState:
    """One instrument's form: definition, saved row (if any), error, idempotency key."""

    instrument: Instrument
    legend: str
    button: str
    saved: Administration | None = None
    error: str = ""
    error_item: str | None = None
    key: str = field(default_factory=lambda: secrets.token_hex(16))
    rater: str = "client"
    # Values sent with a refused form, shown again so the client need not start over.
    posted: dict[str, float] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.instrument.code

    def shown_total(self) -> float | None:
        """The saved total; None until a rating exists (nothing is pre-filled)."""
        return self.saved.total if self.saved is not None else None

    def item_rows(self) -> list[dict]:
        saved_items = self.posted or (self.saved.items if self.saved is not None else {})
        rows = []
        for item in self.instrument.items:
            value = saved_items.get(item.key)
            rows.append(
                {
                    "item": item,
                    "value": value,
                    # Where the thumb sits before a choice: the middle, shown as "not yet rated".
                    "start": value if value is not None else (item.min + item.max) / 2,
                    "invalid": self.error_item == item.key,
                }
            )
        return rows


def read_items(form: FormState, data: Mapping[str, str]) -> dict[str, str]:
    """The item values from a POST, or NotRated when the lines were not all chosen."""
    code = form.code
    if data.get(CONFIRM_FIELD) != "1":
        raise NotRated(_("Please move every line to where it fits for you, then send."))
    return {item.key: data.get(f"{code}-{item.key}", "") for item in form.instrument.items}


def keep_posted(form: FormState, data: Mapping[str, str]) -> None:
    """Remember the values of a refused form (only numbers inside the item's range)."""
    for item in form.instrument.items:
        try:
            value = float(data.get(f"{form.code}-{item.key}", ""))
        except ValueError:
            continue
        if item.min <= value <= item.max:
            form.posted[item.key] = value


def live_stamp(session: Session) -> str:
    """Changes whenever a rating of the session is stored, edited or removed (the page polls it)."""
    summary = Administration.objects.filter(agency_id=session.agency_id, session=session).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    last = summary["last"].timestamp() if summary["last"] else 0
    return f"{summary['n']}-{last:.6f}"
