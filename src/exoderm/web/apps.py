from django.apps import AppConfig
from django.http import HttpRequest


def superuser_only(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class WebConfig(AppConfig):
    name = "exoderm.web"
    label = "web"

    def ready(self) -> None:
        from django.contrib import admin

        # The clinic's own pages manage users and roles; the Django admin is the superuser's tool.
        admin.site.has_permission = superuser_only  # type: ignore[method-assign]
