from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "exoderm.web"
    label = "web"
