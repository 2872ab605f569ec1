from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "alliance.feedback"
    label = "feedback"
    verbose_name = _("Client feedback")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alliance.care.hooks import session_page

        from .panel import session_page_context

        session_page.connect(session_page_context, dispatch_uid="feedback.link_panel")
