from django.contrib import admin

from alliance.accounts.admin import AgencyScopedAdmin

from .models import FeedbackSettings, Group


@admin.register(FeedbackSettings)
class FeedbackSettingsAdmin(AgencyScopedAdmin):
    list_display = ["agency", "show_first_name"]


@admin.register(Group)
class GroupAdmin(AgencyScopedAdmin):
    list_display = ["name", "leader"]
