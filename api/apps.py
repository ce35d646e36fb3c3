from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API: read endpoints, the curators' write API and the changes feed."""

    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from django.core import checks

        from cryptogroups import feed

        from . import representations
        from .throttling import check_rates
        from .urls import router

        # The feed records what the resources' detail endpoints serve.
        representations.use_viewsets(viewset for _prefix, viewset, _name in router.registry)
        feed.represent_with(
            representations.represent_public,
            representations.tables_read,
        )
        # Tagged so that the app server's start can run it alone (cryptogroups.wsgi).
        checks.register(check_rates, "rates")
