"""URLs of the example project."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("name", views.name),
    path("cycle", views.cycle),
    path("flush", views.flush),
    path("state", views.state),
]
