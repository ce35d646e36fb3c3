"""The API's root: the list of its resources. It refuses what it does not read, as the
resources do."""

from __future__ import annotations

from rest_framework import routers

from .requests import RequestChecksMixin


class APIRootView(RequestChecksMixin, routers.APIRootView):
    """The list of the API's resources."""
