"""Views: ``request.session`` is Django's API over a sessionary store."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST


def index(request: HttpRequest) -> HttpResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return render(request, "index.html")


@require_POST
def name(request: HttpRequest) -> HttpResponse:
    value = request.POST.get("name", "").strip() or "stranger"
    request.session["name"] = value
    messages.success(request, f"Hello, {value}!")
    return HttpResponseRedirect("/")


@require_POST
def cycle(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()  # what django.contrib.auth.login does
    messages.info(request, "New session key, same data.")
    return HttpResponseRedirect("/")


@require_POST
def flush(request: HttpRequest) -> HttpResponse:
    request.session.flush()  # what django.contrib.auth.logout does
    messages.warning(request, "Session forgotten.")
    return HttpResponseRedirect("/")


def state(request: HttpRequest) -> HttpResponse:
    data = {k: v for k, v in request.session.items() if k != "_messages"}
    return JsonResponse(data)
