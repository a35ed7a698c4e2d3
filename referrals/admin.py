from django.contrib import admin

from accounts.admin import TenantAdmin

from .models import Conversion, Program, Purchase, Referral, ReferralLink


@admin.register(Program)
class ProgramAdmin(TenantAdmin):
    list_display = ["name", "organization", "status", "attribution_window_days", "created_at"]
    list_filter = ["organization", "status"]


@admin.register(ReferralLink)
class ReferralLinkAdmin(TenantAdmin):
    list_display = ["code", "vanity_code", "organization", "program", "source"]
    search_fields = ["code", "vanity_code"]
    raw_id_fields = ["program", "source"]


@admin.register(Referral)
class ReferralAdmin(TenantAdmin):
    list_display = ["__str__", "organization", "status", "channel", "flagged", "created_at"]
    list_filter = ["organization", "status", "channel", "flagged"]
    search_fields = ["friend_email", "friend_name"]
    raw_id_fields = ["program", "source", "link", "friend"]


@admin.register(Purchase)
class PurchaseAdmin(TenantAdmin):
    list_display = ["external_id", "organization", "kind", "amount", "currency", "occurred_at"]
    list_filter = ["organization", "kind"]
    search_fields = ["external_id"]
    raw_id_fields = ["customer", "refund_of", "recorded_by"]


@admin.register(Conversion)
class ConversionAdmin(TenantAdmin):
    list_display = ["external_id", "organization", "kind", "source", "occurred_at"]
    list_filter = ["organization", "kind"]
    search_fields = ["external_id"]
    raw_id_fields = ["referral", "source", "customer", "purchase", "recorded_by"]
