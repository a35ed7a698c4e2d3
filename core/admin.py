from django.contrib import admin
from django.utils import timezone

from .models import OutboxMessage


class OutboxStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("waiting", "Waiting for the broker"),
            ("sent", "Sent, not yet run"),
            ("overdue", "Due again (no worker ran it)"),
            ("failed", "Failed"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "waiting":
            return queryset.filter(sent_at__isnull=True, failed_at__isnull=True)
        if value == "sent":
            return queryset.filter(sent_at__isnull=False, failed_at__isnull=True)
        if value == "overdue":
            return queryset.filter(failed_at__isnull=True, next_attempt_at__lte=timezone.now())
        if value == "failed":
            return queryset.filter(failed_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """The backlog of queued work: rows are deleted once a worker has run their task."""

    list_display = [
        "id",
        "task",
        "args",
        "status",
        "created_at",
        "sent_at",
        "sends",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = [OutboxStatusFilter, "task"]
    search_fields = ["task"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["send_again"]

    @admin.action(description="Send again at the next drain")
    def send_again(self, request, queryset):
        count = queryset.update(failed_at=None, next_attempt_at=timezone.now())
        self.message_user(request, f"{count} messages will be sent at the next drain.")

    def has_add_permission(self, request):
        return False
