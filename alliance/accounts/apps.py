from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "alliance.accounts"
    label = "accounts"
    verbose_name = _("Accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from . import lockout
        from .middleware import on_sign_in

        user_logged_in.connect(on_sign_in, weak=False, dispatch_uid="accounts_on_sign_in")
        lockout.connect()
