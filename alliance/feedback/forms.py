"""Django forms for what therapists and clients post to the feedback app: link actions, the
kiosk and groups. (The rating form's state lives in alliance.care.rating_form.)"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy

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
        # Form.clean answers cleaned_data; the stubs allow None for overrides.
        cleaned = cast(dict[str, Any], super().clean())
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
