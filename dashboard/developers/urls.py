from django.urls import path

from . import views

app_name = "developers"
urlpatterns = [
    path("app/settings/api-keys/", views.api_keys, name="api_keys"),
    path("app/settings/api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("app/settings/webhooks/", views.webhook_list, name="webhooks"),
    path("app/settings/webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("app/settings/webhooks/<int:pk>/active/", views.webhook_active, name="webhook_active"),
    path("app/settings/webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "app/settings/webhooks/deliveries/<int:pk>/resend/",
        views.delivery_resend,
        name="delivery_resend",
    ),
]
