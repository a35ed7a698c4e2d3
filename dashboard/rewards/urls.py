from django.urls import path

from . import views

app_name = "rewards"
urlpatterns = [
    path("app/programs/<int:program_pk>/rules/new/", views.rule_create, name="rule_create"),
    path("app/rewards/", views.reward_list, name="reward_list"),
    path("app/rewards/grant/", views.reward_grant, name="reward_grant"),
    path("app/rewards/<int:pk>/", views.reward_detail, name="reward_detail"),
    path("app/rewards/<int:pk>/approve/", views.reward_approve, name="reward_approve"),
    path("app/rewards/<int:pk>/void/", views.reward_void, name="reward_void"),
    path("app/balances/", views.account_list, name="account_list"),
    path("app/balances/<int:pk>/", views.account_detail, name="account_detail"),
    path("app/balances/<int:pk>/payout/", views.payout_request, name="payout_request"),
    path("app/balances/<int:pk>/adjust/", views.credit_adjust, name="credit_adjust"),
    path("app/payouts/", views.payout_list, name="payout_list"),
    path("app/payouts/batch/", views.payout_batch, name="payout_batch"),
    path("app/payouts/bank-transfers.csv", views.bank_transfer_csv, name="bank_transfer_csv"),
    path("app/payouts/<int:pk>/retry/", views.payout_retry, name="payout_retry"),
    path("app/payouts/<int:pk>/paid/", views.payout_mark_paid, name="payout_mark_paid"),
]
