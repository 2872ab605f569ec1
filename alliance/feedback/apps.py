from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "alliance.feedback"
    label = "feedback"
    verbose_name = _("Client feedback")
    default_auto_field = "django.db.models.BigAutoField"
