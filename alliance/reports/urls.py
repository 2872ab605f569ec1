from django.urls import path

from . import alliance_views, views

app_name = "reports"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("effectiveness/", views.effectiveness, name="effectiveness"),
    path("effectiveness.pdf", views.effectiveness_pdf, name="effectiveness_pdf"),
    path("alliance/", alliance_views.alliance_outcome, name="alliance"),
    path("alliance.pdf", alliance_views.alliance_outcome_pdf, name="alliance_pdf"),
    path("etr/", views.etr, name="etr"),
    path("etr/deactivate/", views.deactivate, name="deactivate"),
    path("etr/jobs/<str:public_id>/", views.refit_job, name="refit_job"),
    path("etr/models/<str:public_id>/", views.fitted_model, name="fitted_model"),
    path("etr/models/<str:public_id>/activate/", views.activate, name="activate"),
    path("exports/", views.exports, name="exports"),
    path("exports/fhir/", views.export_fhir, name="export_fhir"),
    path("exports/<str:kind>.csv", views.export_csv, name="export_csv"),
    path("clients/<str:public_id>/progress.pdf", views.client_pdf, name="client_pdf"),
]
