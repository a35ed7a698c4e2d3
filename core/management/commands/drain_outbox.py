"""Send the outbox's due tasks now, and show the backlog (what beat's ``core.drain_outbox``
does every 30 s): ``manage.py drain_outbox``."""

from django.core.management.base import BaseCommand
from django.db.models import Count, Min, Q
from django.utils import timezone

from core.models import OutboxMessage
from core.tasks import drain_outbox


class Command(BaseCommand):
    help = "Send every due outbox message to the broker, then print the backlog."

    def handle(self, *args, **options):
        sent = drain_outbox()
        backlog = OutboxMessage.objects.aggregate(
            total=Count("id"),
            waiting=Count("id", filter=Q(sent_at__isnull=True, failed_at__isnull=True)),
            failed=Count("id", filter=Q(failed_at__isnull=False)),
            oldest=Min("created_at"),
        )
        age = (
            f"{(timezone.now() - backlog['oldest']).total_seconds():.0f}s"
            if backlog["oldest"]
            else "-"
        )
        self.stdout.write(
            f"sent {sent}; backlog {backlog['total']} (waiting for the broker "
            f"{backlog['waiting']}, failed {backlog['failed']}, oldest {age})"
        )
