from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views


class Router(DefaultRouter):
    # The root refuses unknown query parameters and answers errors in JSON, as every view does.
    APIRootView = views.APIRootView


router = Router()
router.register("exchanges", views.ExchangeViewSet, basename="exchange")
router.register("exchange-responses", views.ExchangeResponseViewSet, basename="exchange-response")
router.register("groups", views.GroupViewSet, basename="group")
router.register("migrations", views.MigrationViewSet, basename="migration")
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register("platforms", views.PlatformViewSet, basename="platform")
router.register(
    "platform-availabilities",
    views.PlatformAvailabilityViewSet,
    basename="platform-availability",
)
router.register("regulatory-actions", views.RegulatoryActionViewSet, basename="regulatory-action")
router.register("sources", views.SourceViewSet, basename="source")

urlpatterns = [
    path("changes/", views.ChangesView.as_view(), name="changes"),
    path("", include(router.urls)),
]
