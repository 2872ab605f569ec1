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

from alliance.science.instruments import Instrument, ResponseError

from . import svg
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

    @property
    def likert(self) -> bool:
        """Every item offers labelled answers (PHQ-9, GAD-7): radio buttons, not lines."""
        return all(item.choices for item in self.instrument.items)

    def shown_total(self) -> float | None:
        """The saved total; None until a rating exists (nothing is pre-filled)."""
        return self.saved.total if self.saved is not None else None

    def total_text(self) -> str:
        """The saved total to the instrument's decimals ("12" for a PHQ-9, "31.8" for an ORS)."""
        total = self.shown_total()
        if total is None:
            return "\u2013"
        # Shown to a person: the active language's decimal separator ("31,8" in Spanish).
        return svg.figure(total, self.instrument.decimals)

    def refuse(self, error: ResponseError) -> None:
        """Show why a response was refused, in words for the person who filled it in."""
        self.error, self.error_item = response_message(self.instrument, error), error.item

    def item_rows(self) -> list[dict]:
        saved_items = self.posted or (self.saved.items if self.saved is not None else {})
        rows = []
        for item in self.instrument.items:
            value = saved_items.get(item.key)
            options = [
                {
                    "value": format_score(item.min + index * item.step, item.decimals),
                    "label": label,
                    "checked": value is not None
                    and abs(value - (item.min + index * item.step)) < item.step / 2,
                }
                for index, label in enumerate(item.choices)
            ]
            rows.append(
                {
                    "item": item,
                    "value": value,
                    "options": options,
                    # Where the thumb sits before a choice: the middle, shown as "not yet rated".
                    "start": value if value is not None else (item.min + item.max) / 2,
                    "invalid": self.error_item == item.key,
                }
            )
        return rows


def format_score(value: float, decimals: int) -> str:
    """A score as the forms show it: "5.0" on a line (one decimal), "2" for a labelled answer."""
    return f"{value:.{decimals}f}"


def response_message(instrument: Instrument, error: ResponseError) -> str:
    """What a person reads when a rating is refused ("The total must be between 0 and 40.")."""
    subject = error.item is None
    label = ""
    if error.item is not None:
        try:
            label = instrument.item(error.item).label
        except KeyError:
            return _("This form has changed: reload the page and fill it in again.")
    if error.reason == "total_only":
        return _("%(form)s needs an answer to every question: a total on its own is not saved.") % {
            "form": instrument.display_name
        }
    if error.reason in ("missing", "unknown"):
        return _("Please answer “%(item)s”.") % {"item": label}
    low = svg.figure(error.low or 0.0)
    high = svg.figure(error.high or 0.0)
    if error.item is not None and instrument.item(error.item).choices:
        return _("For “%(item)s”, choose one of the answers.") % {"item": label}
    if error.reason == "step":
        step = error.step or 1.0
        if step >= 1:
            if subject:
                return _("The total must be a whole number.")
            return _("“%(item)s” must be a whole number.") % {"item": label}
        if subject:
            return _("The total can have at most one decimal (for example 31.5).")
        return _("“%(item)s” can have at most one decimal (for example 7.5).") % {"item": label}
    if subject:
        return _("The total must be between %(low)s and %(high)s.") % {"low": low, "high": high}
    return _("“%(item)s” must be between %(low)s and %(high)s.") % {
        "item": label,
        "low": low,
        "high": high,
    }


def read_items(form: FormState, data: Mapping[str, str]) -> dict[str, str]:
    """The item values from a POST, or NotRated when the lines were not all chosen."""
    code = form.code
    if form.likert:
        # Radio buttons start with nothing chosen: a missing answer is simply not chosen yet.
        values = {item.key: data.get(f"{code}-{item.key}", "") for item in form.instrument.items}
        if any(value == "" for value in values.values()):
            raise NotRated(_("Please answer every question, then send."))
        return values
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
