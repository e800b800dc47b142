from django.apps import AppConfig


class BookingConfig(AppConfig):
    name = "exoderm.booking"
    label = "booking"
