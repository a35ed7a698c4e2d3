from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("app/", views.overview, name="overview"),
    path("app/analytics/sources.csv", views.source_export, name="source_export"),
]
