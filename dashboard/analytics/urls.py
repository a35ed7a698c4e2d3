from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("app/", views.overview, name="overview"),
    path("app/analytics/funnel/", views.funnel, name="funnel"),
    path("app/analytics/revenue-and-cost/", views.money, name="money"),
    path("app/analytics/series/", views.series, name="series"),
    path("app/analytics/sources/", views.sources, name="sources"),
    path("app/analytics/cohorts/", views.cohorts, name="cohorts"),
    path("app/analytics/referred-vs-not/", views.compare, name="compare"),
    path("app/analytics/value/", views.projected, name="value"),
    path("app/analytics/sources.csv", views.source_export, name="source_export"),
]
