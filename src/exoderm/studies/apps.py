from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "exoderm.studies"
    label = "studies"
