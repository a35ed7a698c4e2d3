from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("", views.home, name="home"),
    path("app/onboarding/", views.onboarding, name="onboarding"),
    path("app/switch/<int:organization_id>/", views.switch, name="switch"),
    path("app/settings/members/", views.members, name="members"),
    path("app/settings/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("app/sources/", views.source_list, name="source_list"),
    path("app/sources/new/", views.source_create, name="source_create"),
    path("app/sources/<int:pk>/", views.source_detail, name="source_detail"),
    path("app/sources/<int:pk>/edit/", views.source_edit, name="source_edit"),
    path("app/customers/", views.customer_list, name="customer_list"),
]
