from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "exoderm.patients"
    label = "patients"
