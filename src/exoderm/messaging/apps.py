from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "exoderm.messaging"
    label = "messaging"
    verbose_name = "Messages to patients"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from exoderm.messaging.receivers import erase_copies_on_restriction
        from exoderm.patients.models import Patient

        post_save.connect(
            erase_copies_on_restriction, sender=Patient, dispatch_uid="messaging-erase-on-restriction"
        )
