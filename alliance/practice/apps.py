from django.apps import AppConfig


class PracticeConfig(AppConfig):
    name = "alliance.practice"
    label = "practice"
    verbose_name = "My practice"
