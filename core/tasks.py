"""Queue a Celery task from a service, by name.

Services name the task they queue (``"rewards.issue_rewards_for_conversion"``) instead of
importing it, so a domain app never imports a surface or a later app's tasks, and a
reader can search for the name. ``enqueue_on_commit`` is the one way services queue work.
"""

from django.db import transaction


def send_task(name: str, *args, **kwargs) -> None:
    """Send the task now (outside any transaction's fate)."""
    from config.celery import app

    app.send_task(name, args=list(args), kwargs=kwargs or None)


def enqueue_on_commit(name: str, *args, **kwargs) -> None:
    """Send the task once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send_task(name, *args, **kwargs))
