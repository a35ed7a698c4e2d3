from django.urls import path

from . import views

app_name = "start"
urlpatterns = [
    path("app/start/", views.offer, name="offer"),
    path("app/start/<int:pk>/sources/", views.sources, name="sources"),
    path("app/start/<int:pk>/links/", views.done, name="done"),
    path("app/start/<int:pk>/links/create/", views.links_create, name="links_create"),
    path("app/test/", views.test_run, name="test_run"),
    path("app/test/start/", views.test_start, name="test_start"),
    path("app/test/referrals/<int:pk>/purchase/", views.test_purchase, name="test_purchase"),
]
