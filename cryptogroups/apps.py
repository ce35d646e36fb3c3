from django.apps import AppConfig


class CryptogroupsConfig(AppConfig):
    """The domain: platforms, exchanges, groups, regulatory actions and their sources."""

    name = "cryptogroups"
    verbose_name = "Crypto groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import feed, visibility

        visibility.connect_signals()
        feed.connect_signals()
