from django.contrib import admin
from django.urls import include, path

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # The portal first: /r/<code> is the busiest URL, and the resolver tries patterns in
    # order (behind the dashboard's ~55 patterns it cost about a fifth of the request).
    path("", include("portal.urls")),
    path("", include("dashboard.urls")),
    path("", include("api.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]
