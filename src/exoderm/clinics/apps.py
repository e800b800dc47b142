from django.apps import AppConfig


class ClinicsConfig(AppConfig):
    name = "exoderm.clinics"
    label = "clinics"
