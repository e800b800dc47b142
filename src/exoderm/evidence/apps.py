from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "exoderm.evidence"
    label = "evidence"
