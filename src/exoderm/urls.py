from django.contrib import admin
from django.urls import include, path, register_converter

from exoderm.api.main import api
from exoderm.core.ids import IdConverter

# Page addresses name records by <id:...>, never <int:...>: a number beyond the database's range is a 404.
register_converter(IdConverter, "id")

urlpatterns = [
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("photos/", include("exoderm.photos.urls")),
    path("", include("exoderm.web.urls")),
]
