from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from api.docs import RedocView, SchemaView, SwaggerView
from api.health import healthz, readyz
from cryptogroups.admin import audit_view

urlpatterns = [
    path("", RedirectView.as_view(url="/api/v1/", permanent=False)),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/audit/", admin.site.admin_view(audit_view), name="data-audit"),
    path("admin/", admin.site.urls),
]

handler400 = "api.health.bad_request"
handler403 = "api.health.permission_denied"
handler404 = "api.health.not_found"
handler500 = "api.health.server_error"
