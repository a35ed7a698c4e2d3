from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import (
    CsvImport,
    Customer,
    InsiderContribution,
    Invitation,
    Membership,
    Organization,
    ReferralSource,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


class TenantAdmin(admin.ModelAdmin):
    """Operators see every tenant; the organization is always shown and filterable."""

    list_filter = ["organization"]
    list_select_related = ["organization"]


@admin.register(Customer)
class CustomerAdmin(TenantAdmin):
    list_display = [
        "__str__",
        "organization",
        "email",
        "external_id",
        "is_referred",
        "first_seen_at",
    ]
    search_fields = ["email", "external_id", "name"]


@admin.register(ReferralSource)
class ReferralSourceAdmin(TenantAdmin):
    list_display = ["name", "organization", "kind", "email", "active"]
    list_filter = ["organization", "kind", "active"]
    search_fields = ["name", "email", "company"]
    raw_id_fields = ["customer"]


@admin.register(Invitation)
class InvitationAdmin(TenantAdmin):
    list_display = ["email", "organization", "role", "created_at", "accepted_at", "revoked_at"]


@admin.register(InsiderContribution)
class InsiderContributionAdmin(TenantAdmin):
    list_display = ["source", "organization", "occurred_on", "value", "currency", "created_by"]
    raw_id_fields = ["source", "created_by"]
    date_hierarchy = "occurred_on"


@admin.register(CsvImport)
class CsvImportAdmin(TenantAdmin):
    list_display = ["filename", "organization", "kind", "row_count", "created_at", "confirmed_at"]
    list_filter = ["organization", "kind"]
    exclude = ["content"]
    raw_id_fields = ["created_by"]
