"""Django forms for what the therapist posts: every POST with input is read through one of these.

Field names are the ones the templates post. A form checks the shape of the input (a known
choice, a year, a length) so that a refused form changes nothing; the services still enforce
the rules that need the database (an open episode, one agency, a unique code). The rating items
themselves are read by the rating form state (``read_items``), not here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Self, cast

from django import forms
from django.core.validators import MaxValueValidator
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alliance.science.instruments.age_bands import DEFAULT_AGE_BAND

from .dates import birth_year_problem
from .models import SAME_AS_STAFF, AgeBand, Attendance, Ending, EntryMode, Rater, form_languages


def error_text(form: forms.Form) -> str:
    """The form's first error (in field order), for the one-line message the pages show."""
    for messages in form.errors.values():
        return str(messages[0])
    return ""


def refused(reason: forms.Form | str | Exception) -> HttpResponse:
    """The answer to a refused small form (its message as plain text, 400): nothing changed."""
    message = error_text(reason) if isinstance(reason, forms.Form) else str(reason)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


def _choose(message) -> dict:
    return {"required": message, "invalid_choice": message}


class NewClientForm(forms.Form):
    """A new client of the signed-in therapist (the order of the fields is the order of the
    messages: the code first, then the year, then the band)."""

    display_code = forms.CharField(
        max_length=40,
        error_messages={
            "required": _("Give the client a display code."),
            "max_length": _("The display code is at most 40 characters long."),
        },
    )
    name = forms.CharField(max_length=200, required=False)
    birth_year = forms.IntegerField(required=False, min_value=1900)
    age_band = forms.ChoiceField(
        choices=[("", ""), *AgeBand.choices],
        required=False,
        error_messages=_choose(_("Choose an age band or give the birth year.")),
    )
    outcome_instrument = forms.ChoiceField(
        required=False, error_messages=_choose(_("Choose a form from the list."))
    )
    alliance_instrument = forms.ChoiceField(
        required=False, error_messages=_choose(_("Choose a form from the list."))
    )
    raters = forms.MultipleChoiceField(
        choices=Rater.choices,
        required=False,
        error_messages=_choose(_("Choose the raters from the list.")),
    )
    language = forms.ChoiceField(
        choices=lambda: [(SAME_AS_STAFF, ""), *form_languages()],
        required=False,
        error_messages=_choose(_("Choose a language from the list.")),
    )

    def __init__(self, *args, outcome_forms=(), alliance_forms=(), **kwargs):
        super().__init__(*args, **kwargs)
        year = self.fields["birth_year"]
        year.validators.append(MaxValueValidator(timezone.localdate().year))
        message = _("The birth year must be a year such as 1990.")
        year.error_messages.update(invalid=message, min_value=message, max_value=message)
        # Declared as ChoiceFields above; the fields mapping is typed with the base Field.
        cast(forms.ChoiceField, self.fields["outcome_instrument"]).choices = [
            ("", ""),
            *outcome_forms,
        ]
        cast(forms.ChoiceField, self.fields["alliance_instrument"]).choices = [
            ("", ""),
            *alliance_forms,
        ]

    def clean(self):
        # ModelForm.clean answers cleaned_data; the stubs allow None for overrides.
        cleaned = cast(dict[str, Any], super().clean())
        if "birth_year" in self.errors or "age_band" in self.errors:
            return cleaned
        if not cleaned.get("age_band") and cleaned.get("birth_year") is None:
            # The form as it opens (no band, no year) is valid: the default band, as the
            # band's option says ("adult without one").
            cleaned["age_band"] = DEFAULT_AGE_BAND
        problem = birth_year_problem(
            cleaned.get("birth_year"), cleaned.get("age_band"), timezone.localdate()
        )
        if problem:
            self.add_error("birth_year", problem)
        return cleaned


class ClientLanguageForm(forms.Form):
    """The language of the client's own forms (links, kiosk); "" for the staff member's."""

    language = forms.ChoiceField(
        choices=lambda: [(SAME_AS_STAFF, ""), *form_languages()],
        required=False,
        error_messages=_choose(_("Choose a language from the list.")),
    )


class RatersForm(forms.Form):
    raters = forms.MultipleChoiceField(
        choices=Rater.choices,
        required=False,
        error_messages=_choose(_("Choose the raters from the list.")),
    )


class ShareForm(forms.Form):
    """A colleague from the list the page offered (``colleagues``: users of the same agency)."""

    colleague = forms.ChoiceField()

    def __init__(self, *args, colleagues=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.colleagues = {user.public_id: user for user in colleagues}
        cast(forms.ChoiceField, self.fields["colleague"]).choices = [
            (key, key) for key in self.colleagues
        ]

    def chosen(self):
        return self.colleagues[self.cleaned_data["colleague"]]


class CloseEpisodeForm(forms.Form):
    ending = forms.ChoiceField(
        choices=Ending.choices,
        error_messages=_choose(_("Choose how the episode ended: planned or unilateral.")),
    )


class AttendanceForm(forms.Form):
    attendance = forms.ChoiceField(
        choices=Attendance.choices,
        error_messages=_choose(_("Choose attended, cancelled or no-show.")),
    )


# The entry modes a person chooses by hand (a form typed in from paper or taken by phone);
# "link" and "import" are set by the system, "in session" is a rating made on the page itself.
MANUAL_ENTRY_MODES = (EntryMode.PAPER, EntryMode.PHONE)


class _Fixed:
    """A rating form's field, never changed once made: every RatingForm uses the same object.

    A Django form deep-copies its fields for each instance (so that one instance may change its
    own); the rating form never changes them and is read on every rating submit (issue 16), where
    the copies cost more than the rest of its reading. Only RatingForm's fields are fixed.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class _FixedChoiceField(_Fixed, forms.ChoiceField):
    pass


class _FixedCharField(_Fixed, forms.CharField):
    pass


class _FixedBooleanField(_Fixed, forms.BooleanField):
    pass


@lru_cache(maxsize=64)
def _instrument_fields(instruments: tuple[str, ...]) -> dict[str, forms.Field]:
    """The fields that depend on the page's forms: which one was sent, and each one's total."""
    fields: dict[str, forms.Field] = {
        "instrument": _FixedChoiceField(
            choices=[(code, code) for code in instruments],
            error_messages=_choose(_("Unknown instrument.")),
        )
    }
    for code in instruments:
        fields[f"{code}-total"] = _FixedCharField(required=False)
    return fields


class RatingForm(forms.Form):
    """Everything a rating posts besides its items: which of the page's forms, a total typed from
    paper (``<code>-total``), how it was entered and who rated. The total stays text: the
    instrument definition scores it and names what is wrong."""

    # Its choices are the page's forms (``instruments``), set per instance.
    instrument = _FixedChoiceField(error_messages=_choose(_("Unknown instrument.")))
    idempotency_key = _FixedCharField(
        required=False,
        max_length=64,
        error_messages={"max_length": _("The form is out of date: reload the page and try again.")},
    )
    entry_mode = _FixedChoiceField(
        choices=[(mode.value, mode.label) for mode in MANUAL_ENTRY_MODES],
        required=False,
        error_messages=_choose(_("Choose paper or phone as the way the form was filled in.")),
    )
    # Ticked to replace a rating saved earlier in this session (an audited edit, never silent).
    replace = _FixedBooleanField(required=False)
    rater = _FixedChoiceField(
        choices=Rater.choices,
        required=False,
        error_messages=_choose(_("Choose the raters from the list.")),
    )
    relationship = _FixedCharField(
        required=False,
        max_length=100,
        error_messages={"max_length": _("The relationship is at most 100 characters long.")},
    )

    def __init__(self, *args, instruments=(), **kwargs):
        super().__init__(*args, **kwargs)
        # The same field objects for every form of these instruments (made once, never changed).
        self.fields.update(_instrument_fields(tuple(instruments)))

    def chosen_entry_mode(self) -> str:
        """Paper or phone when chosen; a total on its own came from paper unless told; else the
        rating was made in the session."""
        chosen = self.cleaned_data.get("entry_mode") or ""
        if chosen:
            return chosen
        return EntryMode.PAPER if self.total() else EntryMode.IN_SESSION

    def total(self) -> str:
        """The total typed for the chosen form; "" when its items were rated instead."""
        return self.cleaned_data.get(f"{self.cleaned_data['instrument']}-total", "")
