from typing import cast

from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .lockout import LOCKED_MESSAGE
from .models import Role, Team, User


class LoginForm(AuthenticationForm):
    """Lockout is django-axes' (alliance.accounts.lockout): its backend refuses a locked user
    before the password is checked and its middleware answers with this page and the reason."""

    # One message for any failure: never say whether the username or the password was wrong.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Those details did not match. Please try again."),
        "inactive": _("Those details did not match. Please try again."),
        "locked": LOCKED_MESSAGE,
    }


class TwoFactorForm(forms.Form):
    code = forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class HandoverPinForm(forms.Form):
    """Set (or remove) the short PIN that ends a hand-over; the password confirms who you are."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    pin = forms.RegexField(
        label=_("New PIN (4 to 8 digits; empty removes it)"),
        regex=r"^[0-9]{4,8}$",
        required=False,
        error_messages={"invalid": _("The PIN must be 4 to 8 digits.")},
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    pin_again = forms.CharField(
        label=_("New PIN again"),
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError(_("That is not your password."))
        return password

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("pin", "") != (cleaned.get("pin_again") or ""):
            self.add_error("pin_again", _("The two PINs differ."))
        return cleaned


class TwoFactorVerifyForm(forms.Form):
    """At sign-in a recovery code may stand in for the authenticator's code."""

    code = forms.CharField(
        label=_("Six-digit code from your authenticator app, or a recovery code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "autofocus": True}
        ),
    )


# --- people and teams (alliance/agency/people.py) --------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.THERAPIST)
    team = forms.ModelChoiceField(
        label=_("Team (optional)"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
    )

    def __init__(self, *args, agency, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = Team.objects.filter(
            agency=agency
        )


class AcceptInvitationForm(UserCreationForm):
    """The invitee's own username and password (Django's password validators)."""

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class TeamsForm(forms.Form):
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.none(),
        to_field_name="public_id",
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, agency, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelMultipleChoiceField, self.fields["teams"]).queryset = Team.objects.filter(
            agency=agency
        )


class DeactivateForm(forms.Form):
    successor = forms.ChoiceField(label=_("Their clients go to"), required=False)
    confirm = forms.BooleanField(
        label=_("Yes, deactivate this person: they can no longer sign in."), required=True
    )

    def __init__(self, *args, people, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["successor"]).choices = [
            ("", _("Choose a colleague"))
        ] + [
            (person.public_id, f"{person.username} ({person.membership.get_role_display()})")
            for person in people
        ]


class TeamNameForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=200)


class TeamMemberForm(forms.Form):
    person = forms.ChoiceField(label=_("Person"))

    def __init__(self, *args, people, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["person"]).choices = [("", _("Choose a person"))] + [
            (person.public_id, f"{person.username} ({person.membership.get_role_display()})")
            for person in people
        ]
