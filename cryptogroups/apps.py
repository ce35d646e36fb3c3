from django.apps import AppConfig


class CryptogroupsConfig(AppConfig):
    """The domain: platforms, exchanges, groups, regulatory actions and their sources."""

    name = "cryptogroups"
    verbose_name = "Crypto groups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from .models import Change, DatasetVersion, FeedState, PendingChange
        from .models.version import bump_dataset_version

        bookkeeping = {DatasetVersion, Change, FeedState, PendingChange}
        for model in self.get_models():
            if model in bookkeeping or model._meta.model_name.startswith("historical"):
                continue
            post_save.connect(bump_dataset_version, sender=model)
            post_delete.connect(bump_dataset_version, sender=model)
            for field in model._meta.local_many_to_many:
                m2m_changed.connect(bump_dataset_version, sender=field.remote_field.through)
