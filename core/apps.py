from django.apps import AppConfig
from django.core.signals import request_finished, request_started


def _forget_time_zone(**kwargs):
    """Every request starts and ends in the default zone (UTC).

    The dashboard and the portal activate the organization's zone for the request that
    needs it; without this a later request served by the same thread (another tenant's, or
    the API's) would inherit it. ``request_finished`` fires when the response is closed,
    so a streamed CSV export is still written in the organization's zone.
    """
    from django.utils import timezone

    timezone.deactivate()


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Shared helpers"

    def ready(self):
        # Connects the worker's signal handlers that mark outbox rows done, retried or failed,
        # and registers the system checks of core/checks.py.
        from . import checks, lookups, tasks  # noqa: F401

        lookups.register()  # field__any=[...] (core/lookups.py)

        request_started.connect(_forget_time_zone, dispatch_uid="core.forget_time_zone.start")
        request_finished.connect(_forget_time_zone, dispatch_uid="core.forget_time_zone.end")
