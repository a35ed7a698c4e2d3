from django.contrib import admin

from accounts.admin import TenantAdmin

from .models import (
    CreditAccount,
    CreditLot,
    CreditReminder,
    GiftCard,
    LedgerEntry,
    Payout,
    PayoutBalanceEntry,
    PayoutDetails,
    Reward,
    RewardEvent,
    RewardRule,
)


class ReadOnlyMixin:
    """Append-only records: operators read them; services alone write them."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RewardRule)
class RewardRuleAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "program", "trigger", "formula", "reward_kind"]


class RewardEventInline(ReadOnlyMixin, admin.TabularInline):
    model = RewardEvent
    extra = 0
    fields = ["at", "from_status", "to_status", "actor_label", "note"]
    readonly_fields = fields


@admin.register(Reward)
class RewardAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "status", "reward_kind", "created_at"]
    list_filter = ["organization", "status", "reward_kind"]
    raw_id_fields = ["rule", "conversion", "source", "customer", "payout", "created_by"]
    inlines = [RewardEventInline]


@admin.register(CreditAccount)
class CreditAccountAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "currency", "created_at"]
    raw_id_fields = ["source", "customer"]


@admin.register(CreditLot)
class CreditLotAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "account", "expires_at", "expired_at"]
    raw_id_fields = ["account", "reward"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyMixin, TenantAdmin):
    """Read-only: the ledger is append-only."""

    list_display = ["kind", "amount", "organization", "account", "at", "idempotency_key"]
    list_filter = ["organization", "kind"]


@admin.register(PayoutBalanceEntry)
class PayoutBalanceEntryAdmin(ReadOnlyMixin, TenantAdmin):
    list_display = ["kind", "amount", "organization", "account", "at", "idempotency_key"]
    list_filter = ["organization", "kind"]


@admin.register(Payout)
class PayoutAdmin(TenantAdmin):
    """Status changes go through the dashboard (the services keep the ledger consistent)."""

    list_display = ["pk", "organization", "source", "amount", "method", "status", "attempts"]
    list_filter = ["organization", "status", "method"]
    raw_id_fields = ["source", "account", "requested_by"]
    readonly_fields = [
        "amount",
        "currency",
        "method",
        "status",
        "idempotency_key",
        "provider_reference",
        "attempts",
        "last_error",
        "paid_at",
        "failed_at",
        "account_holder",
        "iban",
        "bic",
    ]


@admin.register(PayoutDetails)
class PayoutDetailsAdmin(ReadOnlyMixin, TenantAdmin):
    """Kept by each source in its portal; operators only read them."""

    list_display = ["source", "organization", "method", "account_holder", "updated_at"]
    raw_id_fields = ["source"]


@admin.register(GiftCard)
class GiftCardAdmin(ReadOnlyMixin, TenantAdmin):
    list_display = ["__str__", "organization", "amount", "currency", "email", "sent_at"]


@admin.register(CreditReminder)
class CreditReminderAdmin(ReadOnlyMixin, TenantAdmin):
    list_display = ["__str__", "organization", "days_before", "claimed_at", "sent_at"]
