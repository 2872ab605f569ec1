from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    # One message for any failure: never say whether the username or the password was wrong.
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Those details did not match. Please try again."),
        "inactive": _("Those details did not match. Please try again."),
    }
