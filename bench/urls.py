from django.http import HttpResponseRedirect
from django.urls import path

from config.urls import urlpatterns as app_urlpatterns


def bare_redirect(request):
    """The floor: Django's full middleware stack and a redirect, no database."""
    return HttpResponseRedirect("https://bank.example/open?ref=bench")


urlpatterns = [path("bare/", bare_redirect), *app_urlpatterns]
