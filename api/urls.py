from django.urls import include, path
from rest_framework.routers import DefaultRouter

from cryptogroups.resources import RESOURCES

from . import views


class Router(DefaultRouter):
    # The root refuses unknown query parameters and answers errors in JSON, as every view does.
    APIRootView = views.APIRootView


router = Router()
for viewset in (
    views.ExchangeViewSet,
    views.ExchangeResponseViewSet,
    views.GroupViewSet,
    views.MigrationViewSet,
    views.OrganizationViewSet,
    views.PlatformViewSet,
    views.PlatformAvailabilityViewSet,
    views.RegulatoryActionViewSet,
    views.SourceViewSet,
):
    resource = RESOURCES[viewset.queryset.model]
    router.register(resource.path, viewset, basename=resource.basename)

urlpatterns = [
    path("changes/", views.ChangesView.as_view(), name="changes"),
    path("", include(router.urls)),
]
