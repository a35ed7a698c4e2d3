from django.urls import path

from . import portal

app_name = "portal"
urlpatterns = [
    path("<str:token>/", portal.portal, name="home"),
    path("<str:token>/introduce/", portal.introduce, name="introduce"),
    path("<str:token>/payout/", portal.payout, name="payout"),
    path("<str:token>/qr/<int:link_id>.svg", portal.qr, name="qr"),
]
