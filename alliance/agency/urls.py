from django.urls import path

from . import people, policies, views

app_name = "agency"
# Each area appends its own patterns (module.urlpatterns) to this list.
urlpatterns = [
    path("", views.home, name="home"),
    *people.urlpatterns,
    *policies.urlpatterns,
]
