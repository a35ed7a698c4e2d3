"""Every staff page under /app/ (and the sign-up steps around it), by domain area.

The URL namespaces name the area a page belongs to: ``accounts:source_list``,
``referrals:referral_detail``, ``rewards:payout_list``, ``analytics:overview``,
``developers:api_keys``, ``start:offer`` (the first-program wizard and test mode).
"""

from django.urls import include, path

urlpatterns = [
    path("", include("dashboard.accounts.urls")),
    path("", include("dashboard.referrals.urls")),
    path("", include("dashboard.rewards.urls")),
    path("", include("dashboard.analytics.urls")),
    path("", include("dashboard.developers.urls")),
    path("", include("dashboard.start.urls")),
]
