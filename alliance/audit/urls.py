from django.urls import path

from . import views

app_name = "audit"
urlpatterns = [
    path("", views.event_list, name="list"),
    path("export.csv", views.export, name="export"),
    path("erasure/", views.erasure, name="erasure"),
]
