from django.contrib import admin
from django.utils import timezone

from alliance.accounts.admin import AgencyScopedAdmin
from alliance.accounts.network import client_ip

from .models import Client, ClientShare, Episode
from .services import audit


@admin.register(Client)
class ClientAdmin(AgencyScopedAdmin):
    list_display = ["display_code", "therapist", "team", "age_band"]
    search_fields = ["display_code"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # A client added here needs an open episode, as create_client gives one.
            Episode.objects.create(agency=obj.agency, client=obj, start_date=timezone.localdate())
            audit(obj.agency, request.user, "client.created", obj, client_ip(request))


@admin.register(ClientShare)
class ClientShareAdmin(AgencyScopedAdmin):
    list_display = ["client", "user"]


@admin.register(Episode)
class EpisodeAdmin(AgencyScopedAdmin):
    list_display = ["client", "start_date", "end_date", "ending", "zone"]
    readonly_fields = list(Episode.SUMMARY_FIELDS)
