"""URL configuration: accounts, care pages, the Django admin, and the health endpoint."""

from django.contrib import admin
from django.urls import include, path

from alliance.ops.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("alliance.accounts.urls")),
    path("", include("alliance.care.urls")),
    path("f/", include("alliance.feedback.urls")),
    path("reports/", include("alliance.reports.urls")),
    path("practice/", include("alliance.practice.urls")),
    path("agency/", include("alliance.agency.urls")),
    path("api/", include("alliance.api.urls")),
    path("audit/", include("alliance.audit.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
]
