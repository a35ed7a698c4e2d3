"""What only the API surface stores: the first answer to each idempotency key."""

from django.db import models
from django.utils import timezone

from accounts.models import Organization


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key``, kept to be replayed.

    The row is inserted in the same transaction as the work it guards: a second request
    with the same key waits on the unique index until the first commits, then replays its
    stored answer; if the first failed with a 5xx nothing was kept and the key is free.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and body of the first request."
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="uniq_idempotency_key")
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self):
        return f"{self.key} ({self.status_code})"
