from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Shared helpers"

    def ready(self):
        # Connects the worker's signal handlers that mark outbox rows done, retried or failed.
        from . import tasks  # noqa: F401
