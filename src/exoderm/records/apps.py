from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "exoderm.records"
    label = "records"
