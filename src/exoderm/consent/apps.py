from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "exoderm.consent"
    label = "consent"
