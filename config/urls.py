from django.contrib import admin
from django.urls import include, path

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("", include("accounts.urls")),
    path("", include("referrals.urls")),
    path("", include("rewards.urls")),
    path("", include("analytics.urls")),
    path("me/", include("rewards.portal_urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
