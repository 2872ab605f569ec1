"""The Policies page: the agency's settings in one place (docs/administration.md, "Policies").

Agency admins change them; supervisors see them read-only (they run teams under these rules, so
they may know them, but do not set them: a POST from a supervisor is a 403); therapists get a 403.
A refused form changes nothing; a change is audited as ``agency.policies_changed`` with each
field's value before and after (settings only, never personal data).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from alliance.accounts.models import MAX_LINK_HOURS, HandoverReauth, Role
from alliance.accounts.network import client_ip
from alliance.accounts.permissions import SUPERVISOR_OR_ADMIN, require_role, role_required
from alliance.care.models import AgeBand
from alliance.science.instruments import all_instruments
from alliance.science.instruments.age_bands import AGE_BAND_NAMES

from . import services

MAX_RETENTION_YEARS = 100


def _form_choices(alliance: bool) -> list[tuple[str, str]]:
    language = translation.get_language() or "en"
    return [
        (instrument.code, f"{instrument.code.upper()} · {instrument.name}")
        for instrument in all_instruments(language)
        if (instrument.kind == "alliance") == alliance
    ]


def _number_messages(message) -> dict:
    return {"invalid": message, "min_value": message, "max_value": message, "required": message}


class PoliciesForm(forms.Form):
    two_factor_admin = forms.BooleanField(required=False)
    two_factor_supervisor = forms.BooleanField(required=False)
    two_factor_therapist = forms.BooleanField(required=False)
    allow_client_names = forms.BooleanField(required=False)
    link_hours = forms.IntegerField(
        min_value=1,
        max_value=MAX_LINK_HOURS,
        error_messages=_number_messages(
            _("A link stays open between 1 and 336 hours (two weeks).")
        ),
    )
    kiosk_enabled = forms.BooleanField(required=False)
    handover_reauth = forms.ChoiceField(
        choices=HandoverReauth.choices,
        error_messages={
            "required": _("Choose how a therapist takes the device back."),
            "invalid_choice": _("Choose how a therapist takes the device back."),
        },
    )
    retention_years = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RETENTION_YEARS,
        error_messages=_number_messages(
            _("Keep closed episodes for 1 to 100 years, or leave it empty to keep them.")
        ),
    )
    confirm_retention = forms.BooleanField(required=False)

    def __init__(self, *args, agency=None, previewing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.agency = agency
        self.previewing = previewing  # a preview stores nothing, so needs no confirmation
        message = _("Choose a form from the list.")
        outcome, alliance = _form_choices(False), _form_choices(True)
        for band in AGE_BAND_NAMES:
            for kind, choices in (("outcome", outcome), ("alliance", alliance)):
                self.fields[f"{kind}_{band}"] = forms.ChoiceField(
                    choices=choices,
                    error_messages={"required": message, "invalid_choice": message},
                )

    def clean(self):
        cleaned = cast(dict[str, Any], super().clean())
        if self._retention_unconfirmed(cleaned):
            assert self.agency is not None
            due = services.retention_preview(self.agency, cleaned["retention_years"])
            if due and due[0].clients:
                self.add_error(
                    "confirm_retention",
                    ngettext(
                        "With this period %(clients)s client would be removed at the next "
                        "retention run: check the preview and tick the confirmation to save.",
                        "With this period %(clients)s clients would be removed at the next "
                        "retention run: check the preview and tick the confirmation to save.",
                        due[0].clients,
                    )
                    % {"clients": due[0].clients},
                )
        return cleaned

    def _retention_unconfirmed(self, cleaned: dict) -> bool:
        """A new retention period saved without ticking that its preview was checked."""
        years = cleaned.get("retention_years")
        return bool(
            self.agency is not None
            and not self.previewing
            and "retention_years" not in self.errors
            and years
            and years != self.agency.retention_years
            and not cleaned.get("confirm_retention")
        )

    def policies(self) -> dict:
        return {
            name: value for name, value in self.cleaned_data.items() if name != "confirm_retention"
        }


def _bands(form: PoliciesForm) -> list[dict]:
    labels = dict(AgeBand.choices)
    return [
        {
            "label": labels[band],
            "outcome": form[f"outcome_{band}"],
            "alliance": form[f"alliance_{band}"],
        }
        for band in AGE_BAND_NAMES
    ]


@require_http_methods(["GET", "HEAD", "POST"])
@role_required(*SUPERVISOR_OR_ADMIN)
def policies(request: HttpRequest) -> HttpResponse:
    membership = require_role(request.user, *SUPERVISOR_OR_ADMIN)
    agency = membership.agency
    can_change = membership.role == Role.ADMIN
    if request.method == "POST":
        require_role(request.user, Role.ADMIN)  # supervisors read only
    posted = request.method == "POST"
    previewing = posted and request.POST.get("action") == "preview"
    form = PoliciesForm(
        request.POST if posted else None,
        agency=agency,
        previewing=previewing,
        initial=services.current_policies(agency),
    )
    saved = request.GET.get("saved") == "1"
    status = 200
    preview_years = agency.retention_years
    if posted and form.is_valid() and not previewing:
        services.update_policies(request.user, agency, form.policies(), ip=client_ip(request))
        return redirect(f"{request.path}?saved=1")
    if posted:
        status = 200 if form.is_valid() else 400
        if "retention_years" not in form.errors:  # the period typed, even when refused
            preview_years = form.cleaned_data.get("retention_years")
    for field in form.fields.values():
        field.disabled = not can_change
    context = {
        "form": form,
        "bands": _bands(form),
        "can_change": can_change,
        "saved": saved and not posted,
        "preview_years": preview_years,
        "preview": services.retention_preview(agency, preview_years),
        "max_link_hours": MAX_LINK_HOURS,
    }
    return render(request, "agency/policies.html", context, status=status)


urlpatterns = [
    path("policies/", policies, name="policies"),
]
