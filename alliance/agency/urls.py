from django.urls import path

from . import clients, people, policies, tokens, views

app_name = "agency"
# Each area appends its own patterns (module.urlpatterns) to this list.
urlpatterns = [
    path("", views.home, name="home"),
    *people.urlpatterns,
    *policies.urlpatterns,
    *tokens.urlpatterns,
    *clients.urlpatterns,
]
