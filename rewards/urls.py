from django.urls import path

from . import views

app_name = "rewards"
urlpatterns = [
    path("app/programs/<int:program_pk>/rules/new/", views.rule_create, name="rule_create"),
    path("app/rewards/", views.reward_list, name="reward_list"),
]
