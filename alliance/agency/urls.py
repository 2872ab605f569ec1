from django.urls import path

from . import people, views

app_name = "agency"
# Each area appends its own patterns (module.urlpatterns) to this list.
urlpatterns = [
    path("", views.home, name="home"),
    *people.urlpatterns,
]
