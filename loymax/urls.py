from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.views import health

admin.site.site_header = "Loyalty platform"
admin.site.site_title = "Loyalty platform admin"
admin.site.index_title = "Administration"


@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request, version: str) -> Response:
    """The API's entry point: its version and where the documentation is."""
    return Response({"version": version, "schema": "/api/schema/", "docs": "/api/docs/"})


# Each app owns its endpoints in <app>/api/urls.py; all share the /api/v1/ prefix.
# processing first: the till's calculate/confirm are the busiest paths, and Django tries the
# patterns in order (about a hundred before processing's otherwise). No two apps share a path.
API_APPS = ["processing", "core", "catalogue", "crm", "attributes", "statuses", "segments", "offers", "communications"]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health", health, name="health"),
    path("health/", health),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/<str:version>/", api_root, name="api-root"),
    *[path("api/<str:version>/", include(f"{app}.api.urls")) for app in API_APPS],
]

handler404 = "loymax.urls.not_found"


def not_found(request, exception=None):
    """JSON for API paths (one error format everywhere), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        from loymax.api.errors import api_not_found

        return api_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
