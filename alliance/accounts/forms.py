from django import forms
from django.contrib.auth.forms import AuthenticationForm
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


class TwoFactorVerifyForm(forms.Form):
    """At sign-in a recovery code may stand in for the authenticator's code."""

    code = forms.CharField(
        label=_("Six-digit code from your authenticator app, or a recovery code"),
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "autofocus": True}
        ),
    )
