from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "exoderm.audit"
    verbose_name = _("audit trail")

    def ready(self) -> None:
        from exoderm.audit import recording

        recording.connect()
