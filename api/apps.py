from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API: read endpoints, the curators' write API and the changes feed."""

    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from .changes import connect_signals

        connect_signals()
