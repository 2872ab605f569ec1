from django.contrib import admin

from alliance.accounts.admin import AgencyScopedAdmin

from .models import AuditEvent


class ReadOnlyAdmin(AgencyScopedAdmin):
    """Rows shown, never added, changed or deleted from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
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


class ClinicalReadOnlyAdmin(ReadOnlyAdmin):
    """Clinical records in the Django admin: read-only, and every look at them is audited.

    Clinical data is written through the services only (care, feedback), which check the rules
    (agency name policy, open episodes, ...) and write the audit trail; the admin shows rows to
    the agency admin and records each list and each record viewed (``admin.viewed``).
    """

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if response.status_code == 200 and changelist is not None:
            # One event per agency whose rows were shown (a platform superuser sees several).
            shown = {row.agency_id for row in changelist.result_list}
            for agency_id in sorted(shown):
                rows = sum(1 for row in changelist.result_list if row.agency_id == agency_id)
                self._audit_view(request, None, agency_id, rows)
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            obj = self.get_object(request, object_id)
            if obj is not None:
                self._audit_view(request, obj)
        return response

    def _audit_view(self, request, obj, agency_id: int | None = None, rows: int = 1) -> None:
        from .services import record_request

        model = self.model._meta.model_name
        if obj is not None:
            record_request(request, obj.agency_id, "admin.viewed", obj, model=model)
        elif agency_id is not None:
            record_request(request, agency_id, "admin.listed", (model, ""), rows=rows)
