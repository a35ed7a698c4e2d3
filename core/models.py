"""Rows that make background work survive a broker or a worker dying (see ``core.tasks``)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    """A Celery task a service queued, kept until a worker has run it.

    Written by ``core.tasks.enqueue_on_commit`` in the same transaction as the business
    write it belongs to, so the two commit (or roll back) together. The broker gets it
    right after the commit when it can, and from ``core.drain_outbox`` (on the beat
    schedule) when it could not. The row is deleted when a worker has run the task; until
    then it is sent again whenever ``next_attempt_at`` passes, so a message lost by the
    broker (a Redis crash) or by a worker (SIGKILL) is sent again. ``failed_at`` marks a
    task that raised after its retries: the drain leaves it for staff to look at.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(
        default=timezone.now, help_text="When the drain sends it (again) if no worker ran it."
    )
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Last accepted by the broker.")
    sends = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(failed_at__isnull=True),
                name="core_outbox_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} #{self.pk}"

    @property
    def status(self) -> str:
        if self.failed_at:
            return "failed"
        return "sent" if self.sent_at else "waiting"


class TaskClaim(models.Model):
    """A side effect done once, ever: e.g. an email, claimed by its key (``core.tasks.once``)."""

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key
