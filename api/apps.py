from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API: read endpoints, the curators' write API and the changes feed."""

    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from django.core import checks

        from .changes import connect_signals
        from .throttling import check_rates

        connect_signals()
        # Tagged so that the app server's start can run it alone (cryptogroups.wsgi).
        checks.register(check_rates, "rates")
