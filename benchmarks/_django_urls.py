"""The one URL of the Django end-to-end cases (Django imports it by name)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def visit(request: HttpRequest) -> HttpResponse:
    session = request.session
    user_id = session["user_id"]
    session["theme"] = "dark" if session["theme"] == "light" else "light"
    return HttpResponse(str(user_id))


def floor(request: HttpRequest) -> HttpResponse:
    return HttpResponse("0")


urlpatterns = [path("", visit), path("floor", floor)]
