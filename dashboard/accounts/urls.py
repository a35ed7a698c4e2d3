from django.urls import path

from accounts.models import CsvImport

from . import views

CUSTOMERS = {"kind": CsvImport.Kind.CUSTOMERS}
SOURCES = {"kind": CsvImport.Kind.SOURCES}

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("app/onboarding/", views.onboarding, name="onboarding"),
    path("app/switch/<int:organization_id>/", views.switch, name="switch"),
    path("app/settings/members/", views.members, name="members"),
    path("app/settings/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "app/settings/members/<int:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "app/settings/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("app/settings/organization/", views.organization_settings, name="organization_settings"),
    path("app/settings/widget/", views.widget_settings, name="widget_settings"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("app/sources/", views.source_list, name="source_list"),
    path("app/sources/new/", views.source_create, name="source_create"),
    path("app/sources/export.csv", views.source_export, name="source_export"),
    path("app/sources/import/", views.csv_import_upload, SOURCES, name="source_import"),
    path(
        "app/sources/import/<int:pk>/",
        views.csv_import_preview,
        SOURCES,
        name="source_import_preview",
    ),
    path(
        "app/sources/import/<int:pk>/confirm/",
        views.csv_import_confirm,
        SOURCES,
        name="source_import_confirm",
    ),
    path("app/sources/<int:pk>/", views.source_detail, name="source_detail"),
    path("app/sources/<int:pk>/edit/", views.source_edit, name="source_edit"),
    path("app/sources/<int:pk>/deactivate/", views.source_deactivate, name="source_deactivate"),
    path("app/sources/<int:pk>/reactivate/", views.source_reactivate, name="source_reactivate"),
    path("app/sources/<int:pk>/portal/rotate/", views.source_portal_rotate, name="portal_rotate"),
    path("app/sources/<int:pk>/portal/send/", views.source_portal_send, name="portal_send"),
    path(
        "app/sources/<int:pk>/contributions/",
        views.contribution_create,
        name="contribution_create",
    ),
    path("app/customers/", views.customer_list, name="customer_list"),
    path("app/customers/export.csv", views.customer_export, name="customer_export"),
    path("app/customers/import/", views.csv_import_upload, CUSTOMERS, name="customer_import"),
    path(
        "app/customers/import/<int:pk>/",
        views.csv_import_preview,
        CUSTOMERS,
        name="customer_import_preview",
    ),
    path(
        "app/customers/import/<int:pk>/confirm/",
        views.csv_import_confirm,
        CUSTOMERS,
        name="customer_import_confirm",
    ),
]
