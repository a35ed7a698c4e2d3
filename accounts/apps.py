from django.apps import AppConfig
from django.db.models.signals import post_delete


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from . import keycache
        from .models import ApiKey

        # A deleted key (its organization deleted) is forgotten by every process at once,
        # as a revoked one is (accounts.keycache).
        post_delete.connect(
            lambda **kwargs: keycache.new_generation(),
            sender=ApiKey,
            weak=False,
            dispatch_uid="keycache-api-key-deleted",
        )
