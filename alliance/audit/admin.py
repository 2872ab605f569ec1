from django.contrib import admin

from alliance.accounts.admin import AgencyScopedAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(AgencyScopedAdmin):
    """Read-only: the trail is append-only (see also /audit/ for the agency admin's view)."""

    list_display = [
        "at",
        "lane",
        "seq",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "ip_address",
    ]
    list_filter = ["action"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
