from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "exoderm.treatments"
    label = "treatments"
