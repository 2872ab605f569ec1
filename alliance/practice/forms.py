from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Measure

EARLIEST = datetime.date(2000, 1, 1)


def _sane(value: datetime.date) -> datetime.date:
    latest = timezone.localdate() + datetime.timedelta(days=366)
    if not EARLIEST <= value <= latest:
        raise forms.ValidationError(
            _("Choose a date between %(low)s and %(high)s."),
            params={"low": EARLIEST.isoformat(), "high": latest.isoformat()},
        )
    return value


class ObjectiveForm(forms.Form):
    text = forms.CharField(
        label=_("Learning objective"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What you want to get better at, in your own words."),
        error_messages={"required": _("Write what you want to work on.")},
    )
    measure = forms.ChoiceField(
        label=_("Measure to watch (optional)"),
        choices=[("", _("None"))] + list(Measure.choices),
        required=False,
    )
    started_on = forms.DateField(
        label=_("Starting on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    share_with_supervisor = forms.BooleanField(label=_("Share with my supervisor"), required=False)

    def clean_started_on(self) -> datetime.date:
        return _sane(self.cleaned_data["started_on"])


class ReflectionForm(forms.Form):
    text = forms.CharField(
        label=_("Reflection"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Write your reflection.")},
    )
    written_on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean_written_on(self) -> datetime.date:
        return _sane(self.cleaned_data["written_on"])


class SharingForm(forms.Form):
    share_with_supervisor = forms.BooleanField(required=False)
