"""The API router: versioned endpoints from each app's ``api/`` package, the OpenAPI schema and its docs.

Anything else under ``/api/`` answers with the API's JSON error shape, never an HTML page.
"""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from integrations.api.errors import not_found

from .security import relaxed_script_policy

app_name = "api"

v1 = [
    path("", include("members.api.urls")),
    path("", include("rewards.api.urls")),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file, so the page keeps the strict policy.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("docs/redoc/", relaxed_script_policy(SpectacularRedocView.as_view(url_name="api:schema")), name="redoc"),
    path("v1/", include(v1)),
    re_path(r"^", not_found),
]
