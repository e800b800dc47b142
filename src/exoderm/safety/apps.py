from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "exoderm.safety"
    label = "safety"
