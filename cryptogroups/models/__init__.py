"""The domain model. See each module for its part of the story."""

from .actions import ActionIssuer, ActionTarget, RegulatoryAction
from .base import RecordQuerySet
from .changes import Change, FeedState, PendingChange, PendingFanout, Takedown
from .exchanges import Exchange, ExchangeResponse
from .groups import Group, GroupExchange, Migration
from .organizations import Organization
from .platforms import Platform, PlatformAvailability
from .sources import Citation, Source
from .version import DatasetVersion

__all__ = [
    "ActionIssuer",
    "ActionTarget",
    "Change",
    "Citation",
    "DatasetVersion",
    "Exchange",
    "ExchangeResponse",
    "FeedState",
    "Group",
    "GroupExchange",
    "Migration",
    "Organization",
    "PendingChange",
    "PendingFanout",
    "Platform",
    "PlatformAvailability",
    "RecordQuerySet",
    "RegulatoryAction",
    "Source",
    "Takedown",
]
