from django.contrib import admin

from alliance.accounts.admin import AgencyScopedAdmin
from alliance.audit.admin import ClinicalReadOnlyAdmin

from .models import FeedbackSettings, Group


@admin.register(FeedbackSettings)
class FeedbackSettingsAdmin(AgencyScopedAdmin):
    list_display = ["agency", "show_first_name"]


@admin.register(Group)
class GroupAdmin(ClinicalReadOnlyAdmin):
    """Groups are run from the group page (audited there); read-only here."""

    list_display = ["name", "leader"]
