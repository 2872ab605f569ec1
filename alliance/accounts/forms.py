from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from alliance.accounts.network import client_ip

from .security import clear_failures, is_locked_out, note_failure


class LoginForm(AuthenticationForm):
    # One message for any failure: never say whether the username or the password was wrong.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Those details did not match. Please try again."),
        "inactive": _("Those details did not match. Please try again."),
        "locked": _(
            "Too many failed attempts. Sign-in is paused for %(minutes)s minutes; "
            "ask your agency admin if you need help sooner."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        if is_locked_out(username, ip):
            note_failure(username, ip)
            raise self.locked_error()
        try:
            cleaned = super().clean()
        except ValidationError:
            if note_failure(username, ip):
                raise self.locked_error() from None
            raise
        clear_failures(username)
        return cleaned

    def locked_error(self) -> ValidationError:
        minutes = max(1, settings.LOCKOUT_WINDOW_SECONDS // 60)
        return ValidationError(
            self.error_messages["locked"], code="locked", params={"minutes": minutes}
        )


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
