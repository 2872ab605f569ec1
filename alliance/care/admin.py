"""Clinical records in the Django admin: read-only and audited (``ClinicalReadOnlyAdmin``).

Clients, episodes and shares are created and changed in the app (or the API, or an import),
where the services apply the agency's rules (no names when the agency keeps codes only) and
write the audit trail.
"""

from django.contrib import admin

from alliance.audit.admin import ClinicalReadOnlyAdmin

from .models import Client, ClientShare, Episode


@admin.register(Client)
class ClientAdmin(ClinicalReadOnlyAdmin):
    list_display = ["display_code", "therapist", "team", "age_band"]
    search_fields = ["display_code"]


@admin.register(ClientShare)
class ClientShareAdmin(ClinicalReadOnlyAdmin):
    list_display = ["client", "user"]


@admin.register(Episode)
class EpisodeAdmin(ClinicalReadOnlyAdmin):
    list_display = ["client", "start_date", "end_date", "ending", "zone"]
    readonly_fields = list(Episode.SUMMARY_FIELDS)
