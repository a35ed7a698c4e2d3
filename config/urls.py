from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from .health import healthz

# Operators sign in to the admin through allauth's page and its rate limits: Django's own
# admin login form limits nothing, so operators' passwords (who see every tenant) could be
# tried there without end.
admin.site.login = secure_admin_login(admin.site.login)

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
