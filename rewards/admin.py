from django.contrib import admin

from accounts.admin import TenantAdmin

from .models import CreditAccount, CreditLot, LedgerEntry, Reward, RewardRule


@admin.register(RewardRule)
class RewardRuleAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "program", "trigger", "formula", "reward_kind"]


@admin.register(Reward)
class RewardAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "status", "reward_kind", "created_at"]
    list_filter = ["organization", "status", "reward_kind"]
    raw_id_fields = ["rule", "conversion", "source", "customer"]


@admin.register(CreditAccount)
class CreditAccountAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "currency", "created_at"]
    raw_id_fields = ["source", "customer"]


@admin.register(CreditLot)
class CreditLotAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "account", "expires_at", "expired_at"]
    raw_id_fields = ["account", "reward"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(TenantAdmin):
    """Read-only: the ledger is append-only."""

    list_display = ["kind", "amount", "organization", "account", "at", "idempotency_key"]
    list_filter = ["organization", "kind"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
