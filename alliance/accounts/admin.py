"""The Django admin: a tool for the platform's superusers only.

Agency admins run their agency from the Agency pages (alliance/agency): people, teams,
policies. ``/admin/`` refuses every other account, agency admins included (they reach its login
page), and its index says where routine work is done. The agency scoping below stays as a second
line of defence.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Agency, Membership, Role, Team, TeamMembership, TwoFactorDevice, User
from .permissions import is_admin
from .tenancy import agency_of


def superusers_only(request) -> bool:
    """The admin site's permission check: active superusers, nobody else."""
    return bool(request.user.is_active and request.user.is_superuser)


admin.site.has_permission = superusers_only  # type: ignore[method-assign]
admin.site.site_header = _("Alliance platform administration (superusers only)")


class AgencyScopedAdmin(admin.ModelAdmin):
    """Agency admins see and edit only rows of their agency; new rows get their agency."""

    agency_path = "agency"

    def _agency_filter(self, request):
        return {self.agency_path: agency_of(request.user)}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        if not is_admin(request.user):
            return queryset.none()
        return queryset.filter(**self._agency_filter(request))

    def has_module_permission(self, request):
        return request.user.is_superuser or is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.agency_path == "agency":
            excluded.append("agency")
        return excluded

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.agency_path == "agency":
            obj.agency = agency_of(request.user)
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Choices for related rows must not leak other agencies' names.
        if not request.user.is_superuser:
            agency = agency_of(request.user)
            model = db_field.related_model
            if model is Agency:
                kwargs["queryset"] = (
                    Agency.objects.filter(pk=agency.pk)
                    if agency is not None
                    else Agency.objects.none()
                )
            elif model is User:
                kwargs["queryset"] = User.objects.filter(membership__agency=agency)
            elif hasattr(model, "agency"):
                kwargs["queryset"] = model._default_manager.filter(agency=agency)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk=getattr(agency_of(request.user), "pk", None))

    def has_module_permission(self, request):
        return request.user.is_superuser or is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Team)
class TeamAdmin(AgencyScopedAdmin):
    list_display = ["name"]


@admin.register(Membership)
class MembershipAdmin(AgencyScopedAdmin):
    list_display = ["user", "role"]


@admin.register(TeamMembership)
class TeamMembershipAdmin(AgencyScopedAdmin):
    list_display = ["user", "team"]


@admin.register(User)
class AgencyUserAdmin(AgencyScopedAdmin, UserAdmin):
    agency_path = "membership__agency"
    list_display = ["username", "first_name", "last_name", "is_active"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        agency = agency_of(request.user)
        if not change and agency is not None:
            # A person added by an agency admin joins that agency, as a therapist until changed.
            Membership.objects.create(agency=agency, user=obj, role=Role.THERAPIST)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        # Agency admins manage people, not platform-wide privileges.
        hidden = {"is_superuser", "groups", "user_permissions"}
        return [
            (name, {**opts, "fields": [f for f in opts["fields"] if f not in hidden]})
            for name, opts in fieldsets
        ]


@admin.register(TwoFactorDevice)
class TwoFactorDeviceAdmin(AgencyScopedAdmin):
    """Agency admins see who has enrolled and can remove a device (a lost phone); never the key."""

    list_display = ["user", "confirmed_at", "created_at"]
    readonly_fields = ("user", "confirmed_at", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        from alliance.accounts.network import client_ip
        from alliance.audit.services import record

        record(request.user, obj.agency_id, "two_factor.removed", obj.user, client_ip(request))
        super().delete_model(request, obj)
