from django.urls import path, re_path

from . import views

app_name = "referrals"
urlpatterns = [
    path("app/programs/", views.program_list, name="program_list"),
    path("app/programs/new/", views.program_create, name="program_create"),
    path("app/programs/<int:pk>/", views.program_detail, name="program_detail"),
    path("app/programs/<int:pk>/edit/", views.program_edit, name="program_edit"),
    path("app/programs/<int:pk>/links/", views.link_create, name="link_create"),
    re_path(
        r"^app/programs/(?P<pk>[0-9]+)/emails/(?P<kind>friend|source)/$",
        views.program_email_preview,
        name="program_email_preview",
    ),
    re_path(r"^app/links/(?P<pk>[0-9]+)/qr\.(?P<fmt>svg|png)$", views.link_qr, name="link_qr"),
    path("app/links/<int:pk>/card/", views.link_card, name="link_card"),
    path("app/links/<int:pk>/vanity/", views.link_vanity, name="link_vanity"),
    path("app/events/new/", views.event_create, name="event_create"),
    path("app/referrals/", views.referral_list, name="referral_list"),
    path("app/referrals/new/", views.introduction_create, name="introduction_create"),
    path("app/referrals/review/", views.review_queue, name="review_queue"),
    path("app/referrals/<int:pk>/", views.referral_detail, name="referral_detail"),
    path("app/referrals/<int:pk>/conversions/", views.conversion_create, name="conversion_create"),
    path("app/referrals/<int:pk>/reject/", views.referral_reject, name="referral_reject"),
    path("app/referrals/<int:pk>/approve/", views.referral_approve, name="referral_approve"),
]
