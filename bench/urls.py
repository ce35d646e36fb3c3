"""The project's routes plus the floor's and the ceiling's under ``/floor/`` (bench.settings
only)."""

from django.urls import path

from cryptogroups.urls import handler404, handler500
from cryptogroups.urls import urlpatterns as project_urlpatterns

from . import floor

urlpatterns = [
    path("floor/groups/", floor.group_list, name="floor-group-list"),
    path("floor/groups/<slug:slug>/", floor.group_detail, name="floor-group-detail"),
    path("floor/constant/", floor.constant, name="floor-constant"),
    *project_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
