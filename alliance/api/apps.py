from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "alliance.api"
    label = "api"
    verbose_name = _("REST API")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alliance.care import services

        from . import webhooks

        services.administration_recorded.connect(
            webhooks.on_administration_recorded, dispatch_uid="api-webhooks-administration"
        )
        services.alerts_raised.connect(webhooks.on_alerts_raised, dispatch_uid="api-webhooks-alert")
        services.client_erasing.connect(
            webhooks.on_client_erasing, dispatch_uid="api-webhooks-erasure"
        )
