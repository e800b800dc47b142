from django.contrib import admin
from django.urls import include, path

from exoderm.api.main import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("photos/", include("exoderm.photos.urls")),
    path("", include("exoderm.web.urls")),
]
