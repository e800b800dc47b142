from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "exoderm.photos"
    label = "photos"
