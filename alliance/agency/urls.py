from django.urls import path

from . import clients, tokens, views

app_name = "agency"
# Each area appends its own patterns (module.urlpatterns) to this list.
urlpatterns = [
    path("", views.home, name="home"),
    *tokens.urlpatterns,
    *clients.urlpatterns,
]
