from django.urls import path

from . import links, views

app_name = "portal"
urlpatterns = [
    path("r/<str:code>", links.referral_link, name="link"),
    path("me/<str:token>/", views.portal, name="home"),
    path("me/<str:token>/introduce/", views.introduce, name="introduce"),
    path("me/<str:token>/payout/", views.payout, name="payout"),
    path("me/<str:token>/qr/<int:link_id>.svg", views.qr, name="qr"),
]
