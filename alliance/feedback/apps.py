from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "alliance.feedback"
    label = "feedback"
    verbose_name = _("Client feedback")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alliance.care.hooks import session_page
        from alliance.care.services import client_erasing

        from .panel import session_page_context
        from .services import on_client_erasing

        session_page.connect(session_page_context, dispatch_uid="feedback.link_panel")
        client_erasing.connect(on_client_erasing, dispatch_uid="feedback.erasure")
