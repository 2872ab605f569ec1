"""The state of one instrument form (therapist's session page and the client's own forms).

A rating needs an explicit choice on every line: the sliders start "not yet rated", and a form
that was not touched is never stored as a rating of 5.0. With JavaScript the page tracks which
lines were moved; without it the client ticks a required confirmation.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from alliance.science.instruments import Instrument

CONFIRM_FIELD = "confirmed"


class NotRated(ValueError):
    """The form was sent without an explicit choice on every line."""


@dataclass
class FormState:
    """One instrument's form: definition, saved row (if any), error, idempotency key."""

    instrument: Instrument
    legend: str
    button: str
    saved: object | None = None
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


# --- Django forms for the therapist's link actions, the kiosk and groups ---------------------
# (Field names are the ones the templates post; the services still check the rules that need
# the database: a form in use for this client, a rater of the episode, one agency.)

CHANNELS = (
    ("show", gettext_lazy("Show QR code and link")),
    ("email", gettext_lazy("E-mail")),
    ("sms", gettext_lazy("Text message")),
)


class KioskPassForm(forms.Form):
    instrument = forms.CharField(
        max_length=20, error_messages={"required": gettext_lazy("Choose a form.")}
    )
    rater = forms.CharField(max_length=20, required=False)

    def clean_rater(self) -> str:
        return self.cleaned_data["rater"] or "client"


class LinkForm(KioskPassForm):
    channel = forms.ChoiceField(
        choices=CHANNELS,
        required=False,
        error_messages={"invalid_choice": gettext_lazy("Choose how to send the link.")},
    )
    language = forms.CharField(max_length=10, required=False)
    address = forms.CharField(max_length=254, required=False)

    def clean_channel(self) -> str:
        return self.cleaned_data["channel"] or "show"

    def clean(self):
        cleaned = super().clean()
        # Checked before the link exists: a link that cannot be sent is not created.
        if cleaned.get("channel") in ("email", "sms") and not cleaned.get("address"):
            self.add_error("address", gettext_lazy("Give an e-mail address or a phone number."))
        return cleaned


class KioskForm(forms.Form):
    """The waiting-room tablet's code and PIN (any malformed pair is just a wrong pair)."""

    code = forms.CharField(max_length=20)
    pin = forms.CharField(max_length=20)


class GroupForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        error_messages={
            "required": gettext_lazy("Give the group a name."),
            "max_length": gettext_lazy("The name is at most 120 characters long."),
        },
    )
    # The public ids ticked. One the user may not see is left out quietly (``chosen``), as if
    # not ticked: refusing it would confirm that it exists.
    members = forms.Field(required=False, widget=forms.SelectMultiple)

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {client.public_id: client for client in candidates}

    def chosen(self) -> list:
        """The chosen clients among those offered, in the order they were posted."""
        keys = dict.fromkeys(self.cleaned_data["members"] or ())
        return [self.candidates[key] for key in keys if key in self.candidates]
