from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "exoderm.messaging"
    label = "messaging"
    verbose_name = "Messages to patients"
