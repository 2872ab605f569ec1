from django.apps import AppConfig


class AgencyConfig(AppConfig):
    name = "alliance.agency"
    label = "agency"
    verbose_name = "Agency administration"
