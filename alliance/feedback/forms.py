"""Django forms for what therapists and clients post to the feedback app: link actions, the
kiosk and groups. (The rating form's state lives in alliance.care.rating_form.)"""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy

from alliance.care.models import form_languages

# A phone number as people type it: an optional +, then 7 to 15 digits with spaces, dots,
# dashes or brackets between them.
PHONE_PATTERN = re.compile(r"\+?[0-9 ().-]+")
PHONE_DIGITS = (7, 15)


def clean_phone(value: str) -> str:
    """The number with its separators removed (``+34600111222``), or ValidationError."""
    digits = re.sub(r"[^0-9]", "", value)
    if not PHONE_PATTERN.fullmatch(value) or not (
        PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1]
    ):
        raise ValidationError(
            gettext_lazy(
                "This is not a phone number. Give the number with its country code, "
                "such as +34 600 111 222."
            )
        )
    return ("+" if value.startswith("+") else "") + digits


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
    # The language the form opens in; "" (not sent): the client's, else the staff member's.
    language = forms.ChoiceField(
        choices=lambda: [("", ""), *form_languages()],
        required=False,
        error_messages={"invalid_choice": gettext_lazy("Choose a language from the list.")},
    )

    def clean_rater(self) -> str:
        return self.cleaned_data["rater"] or "client"


class LinkForm(KioskPassForm):
    channel = forms.ChoiceField(
        choices=CHANNELS,
        required=False,
        error_messages={"invalid_choice": gettext_lazy("Choose how to send the link.")},
    )
    address = forms.CharField(max_length=254, required=False)

    def clean_channel(self) -> str:
        return self.cleaned_data["channel"] or "show"

    def clean(self):
        # Form.clean answers cleaned_data; the stubs allow None for overrides.
        cleaned = cast(dict[str, Any], super().clean())
        # Checked before the link exists: a link that cannot be sent is not created.
        channel, address = cleaned.get("channel"), (cleaned.get("address") or "").strip()
        if channel == "email" and not address:
            self.add_error("address", gettext_lazy("Give the client's e-mail address."))
        elif channel == "sms" and not address:
            self.add_error("address", gettext_lazy("Give the client's mobile phone number."))
        elif channel == "email":
            try:
                validate_email(address)
            except ValidationError:
                self.add_error(
                    "address",
                    gettext_lazy(
                        "This is not an e-mail address. Check it, for example name@example.org."
                    ),
                )
            else:
                cleaned["address"] = address
        elif channel == "sms":
            try:
                cleaned["address"] = clean_phone(address)
            except ValidationError as error:
                self.add_error("address", error)
        return cleaned


class SwitchLanguageForm(forms.Form):
    """A client switching their form's language on the form itself: the switch button
    (``switch_language``) sends the rating form with the language chosen (``language``)."""

    language = forms.ChoiceField(
        choices=form_languages,
        error_messages={
            "required": gettext_lazy("Choose a language from the list."),
            "invalid_choice": gettext_lazy("Choose a language from the list."),
        },
    )


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
