"""/api/ routes. No app namespace here: django-ninja reverses its own (``api-v1``) from the root."""

from django.urls import path

from .api import api

urlpatterns = [path("v1/", api.urls)]
