from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "exoderm.photos"
    label = "photos"

    def ready(self) -> None:
        from django.tasks.signals import task_started

        from exoderm.photos.tasks import recover_on_task_start

        task_started.connect(recover_on_task_start, dispatch_uid="photos-recover-stalled-analyses")
