from django.urls import path

from . import links, views, widget

app_name = "portal"
urlpatterns = [
    path("r/<str:code>", links.referral_link, name="link"),
    path("r-theme/<int:program_id>.css", links.program_theme, name="theme"),
    path("widget.js", widget.widget_js, name="widget_js"),
    path("widget/data", widget.widget_data, name="widget_data"),
    path("widget/demo/", widget.widget_demo, name="widget_demo"),
    path("me/<str:token>/", views.portal, name="home"),
    path("me/<str:token>/introduce/", views.introduce, name="introduce"),
    path("me/<str:token>/payout/", views.payout, name="payout"),
    path("me/<str:token>/payout-details/", views.payout_details, name="payout_details"),
    path("me/<str:token>/qr/<int:link_id>.svg", views.qr, name="qr"),
]
