"""Django forms for the reports pages: the report filters (GET), the refit scale, the exports.

The filters are forgiving on purpose: a value that does not fit (a bookmarked report whose team
was removed, a mistyped date) is left out of the filter instead of refusing the page. The
actions (refit, back to the default model) refuse what they cannot use and change nothing.
"""

from __future__ import annotations

from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from alliance.care.models import AgeBand

from .data import ReportFilter, outcome_instruments

GROUPINGS = {
    "quarter": _("Quarter"),
    "team_id": _("Team"),
    "therapist_id": _("Therapist"),
    "age_band": _("Age band"),
}
# Outcome scales that ship an ETR model (and so can have an agency model instead).
REFIT_INSTRUMENTS = ("ors", "cors")
DEFAULT_INSTRUMENT = "ors"


class ReportFilterForm(forms.Form):
    team = forms.IntegerField(required=False, min_value=0)
    therapist = forms.IntegerField(required=False, min_value=0)
    age_band = forms.ChoiceField(choices=AgeBand.choices, required=False)
    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    instrument = forms.ChoiceField(required=False)
    by = forms.ChoiceField(choices=list(GROUPINGS.items()), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["instrument"]).choices = outcome_instruments()

    def _value(self, name: str, default=None):
        """The field's value, or ``default`` when it was left empty or does not fit."""
        self.is_valid()
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value

    def report_filter(self) -> ReportFilter:
        return ReportFilter(
            team_id=self._value("team"),
            therapist_id=self._value("therapist"),
            age_band=self._value("age_band", ""),
            start=self._value("start"),
            end=self._value("end"),
            instrument=self._value("instrument", DEFAULT_INSTRUMENT),
        )

    def grouping(self) -> str:
        return self._value("by", "quarter")

    def range_problem(self) -> str:
        """Why the dates select nothing whatever the data (the end before the start), or ""."""
        start, end = self._value("start"), self._value("end")
        if start is not None and end is not None and end < start:
            return str(_("The end date is before the start date: swap them to see any episodes."))
        return ""


class RefitForm(forms.Form):
    """The scale of the ETR page, a refit or a return to the default model."""

    instrument = forms.ChoiceField(
        choices=[(code, code.upper()) for code in REFIT_INSTRUMENTS],
        required=False,
        error_messages={"invalid_choice": _("Choose a scale from the list.")},
    )

    def instrument_code(self) -> str:
        """The chosen scale (ORS when none was sent); call after is_valid()."""
        return self.cleaned_data.get("instrument") or DEFAULT_INSTRUMENT


class ExportForm(forms.Form):
    # "1" from the research buttons; a research extract is de-identified and for admins only.
    research = forms.BooleanField(required=False, widget=forms.HiddenInput)
