from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .lockout import LOCKED_MESSAGE


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
