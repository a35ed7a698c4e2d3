from django.http import HttpResponseRedirect
from django.urls import path
from rest_framework.response import Response

from api.views.base import ApiView
from api.views.events import EventIn, check_event
from config.urls import urlpatterns as app_urlpatterns


def bare_redirect(request):
    """The floor: Django's full middleware stack and a redirect, no database."""
    return HttpResponseRedirect("https://bank.example/open?ref=bench")


class ApiFloor(ApiView):
    """The API's floor: POST /api/v1/events's request (the key, its scope and rate, the JSON,
    the event checked) answered without recording anything: what any design that answers
    each event synchronously through Django pays before the event's own work."""

    def post(self, request):
        data = check_event(request.data, EventIn(context={"organization": self.organization}))
        return Response({"id": data["id"], "stored": False}, status=201)


urlpatterns = [
    path("bare/", bare_redirect),
    path("bench/api-floor", ApiFloor.as_view()),
    *app_urlpatterns,
]
