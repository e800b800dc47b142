from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, register_converter
from django.views.generic import RedirectView

from exoderm.api.main import api
from exoderm.core.ids import IdConverter

# The database being away is a 503 to retry, not a crash (exoderm.web.views.errors).
handler500 = "exoderm.web.views.errors.server_error"

# Page addresses name records by <id:...>, never <int:...>: a number beyond the database's range is a 404.
register_converter(IdConverter, "id")

urlpatterns = [
    path("api/v1/", api.urls),
    # The Django admin signs in through the one login (throttled, second factor), not its own form.
    path(
        "admin/login/",
        login_not_required(RedirectView.as_view(pattern_name="login", query_string=True)),
        name="admin-login",
    ),
    path("admin/", admin.site.urls),
    path("", include("exoderm.web.urls")),
]
