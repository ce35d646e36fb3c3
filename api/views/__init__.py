"""The API's views, by concern: request checks, conditional requests, reads, writes, the
resources' viewsets, the changes feed and the root."""

from .feed import ChangesView
from .records import (
    ExchangeResponseViewSet,
    ExchangeViewSet,
    GroupViewSet,
    MigrationViewSet,
    OrganizationViewSet,
    PlatformAvailabilityViewSet,
    PlatformViewSet,
    RecordViewSet,
    RegulatoryActionViewSet,
    SourceViewSet,
)
from .root import APIRootView

__all__ = [
    "APIRootView",
    "ChangesView",
    "ExchangeResponseViewSet",
    "ExchangeViewSet",
    "GroupViewSet",
    "MigrationViewSet",
    "OrganizationViewSet",
    "PlatformAvailabilityViewSet",
    "PlatformViewSet",
    "RecordViewSet",
    "RegulatoryActionViewSet",
    "SourceViewSet",
]
