"""/api/v1/... resources, the OpenAPI schema at /api/schema/ and its docs at /api/docs/."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .views import analytics, base, customers, events, programs, referrals, rewards, sources

app_name = "api"
urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("api/v1/customers", customers.CustomerList.as_view(), name="customer_list"),
    path("api/v1/customers/<int:pk>", customers.CustomerDetail.as_view(), name="customer"),
    path("api/v1/customers/<int:pk>/credit", rewards.CustomerCredit.as_view()),
    path("api/v1/customers/<int:pk>/credit/redeem", rewards.CustomerRedeem.as_view()),
    path("api/v1/sources", sources.SourceList.as_view(), name="source_list"),
    path("api/v1/sources/<int:pk>", sources.SourceDetail.as_view(), name="source"),
    path("api/v1/sources/<int:pk>/deactivate", sources.SourceDeactivate.as_view()),
    path("api/v1/sources/<int:pk>/portal", sources.SourcePortal.as_view()),
    path("api/v1/sources/<int:pk>/credit", rewards.SourceCredit.as_view()),
    path("api/v1/sources/<int:pk>/credit/redeem", rewards.SourceRedeem.as_view()),
    path("api/v1/programs", programs.ProgramList.as_view(), name="program_list"),
    path("api/v1/programs/<int:pk>", programs.ProgramDetail.as_view(), name="program"),
    path("api/v1/links", programs.LinkList.as_view(), name="link_list"),
    path("api/v1/links/<int:pk>", programs.LinkDetail.as_view(), name="link"),
    path("api/v1/referrals", referrals.ReferralList.as_view(), name="referral_list"),
    path("api/v1/referrals/<int:pk>", referrals.ReferralDetail.as_view(), name="referral"),
    path("api/v1/events", events.EventCreate.as_view(), name="events"),
    path("api/v1/events/bulk", events.EventBulk.as_view(), name="events_bulk"),
    path("api/v1/rewards", rewards.RewardList.as_view(), name="reward_list"),
    path("api/v1/rewards/<int:pk>", rewards.RewardDetail.as_view(), name="reward"),
    path("api/v1/rewards/<int:pk>/approve", rewards.RewardApprove.as_view()),
    path("api/v1/rewards/<int:pk>/void", rewards.RewardVoid.as_view()),
    path("api/v1/payouts", rewards.PayoutList.as_view(), name="payout_list"),
    path("api/v1/payouts/<int:pk>", rewards.PayoutDetail.as_view(), name="payout"),
    path("api/v1/analytics/summary", analytics.AnalyticsSummary.as_view()),
    path("api/v1/analytics/sources", analytics.AnalyticsSources.as_view()),
    re_path(r"^api/", base.not_found),  # last: every other /api/ URL is a JSON 404
]
