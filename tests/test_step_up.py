"""Step-up re-authentication: a sensitive action insists on a recent login,
and each framework's helper sends a stale visitor to re-authenticate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import Session, SessionConfig, SessionMiddleware, auth
from sessionary.exceptions import ReauthenticationRequired
from sessionary.integrations import fastapi as fastapi_sessionary
from sessionary.integrations import flask as flask_sessionary
from sessionary.integrations import starlette as starlette_sessionary
from sessionary.stores.base import Store

from .conftest import SECRET, FakeClock


def memory_config(clock: FakeClock) -> SessionConfig:
    return SessionConfig(store="memory://", clock=clock)


def test_login_records_when_the_visitor_authenticated(clock: FakeClock) -> None:
    s = Session(memory_config(clock))
    assert auth.authenticated_at(s) is None
    auth.login(s, "ada")
    assert auth.authenticated_at(s) == clock.now


def test_recent_auth_holds_for_max_age_seconds_then_fails(clock: FakeClock) -> None:
    s = Session(memory_config(clock))
    auth.login(s, "ada")
    clock.advance(300)
    assert auth.require_recent_auth(s, 300)
    auth.check_recent_auth(s, 300)
    clock.advance(1)
    assert not auth.require_recent_auth(s, 300)
    with pytest.raises(ReauthenticationRequired) as caught:
        auth.check_recent_auth(s, 300)
    assert (caught.value.max_age, caught.value.age) == (300, 301)


def test_a_visitor_who_never_logged_in_has_no_recent_auth(clock: FakeClock) -> None:
    s = Session(memory_config(clock))
    s["cart"] = [1]
    assert not auth.require_recent_auth(s, 10**9)
    with pytest.raises(ReauthenticationRequired):
        auth.check_recent_auth(s, 10**9)
    with pytest.raises(ValueError, match="logged-in"):
        auth.reauthenticate(s)


def test_reauthenticating_restarts_the_clock_and_cycles_the_key(clock: FakeClock) -> None:
    s = Session(memory_config(clock))
    auth.login(s, "ada")
    key = s.session_key
    clock.advance(3600)
    auth.reauthenticate(s)
    assert s.session_key != key
    assert auth.require_recent_auth(s, 60)


async def test_authenticated_at_survives_saves_and_rotations(
    store: Store, clock: FakeClock
) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    s = Session(config)
    auth.login(s, "ada")
    at = clock.now
    await s.save()
    clock.advance(100)
    again = Session(config, s.session_key)
    await again.load()
    again.cycle_key()
    again["seen"] = 1
    await again.save()
    last = Session(config, again.session_key)
    await last.load()
    assert auth.authenticated_at(last) == at
    assert auth.require_recent_auth(last, 100)
    assert not auth.require_recent_auth(last, 99)


# -- the frameworks' helpers, driven through HTTP ---------------------------------


async def _login(request: Request) -> Response:
    auth.login(request.scope["session"], "ada")
    return PlainTextResponse("in")


async def _reauth(request: Request) -> Response:
    auth.reauthenticate(request.scope["session"])
    return PlainTextResponse("again")


@starlette_sessionary.requires_recent_auth(300, reauth_url="/reauth")
async def _change_password(request: Request) -> Response:
    return PlainTextResponse("changed")


@starlette_sessionary.requires_recent_auth(300)
async def _api_delete(request: Request) -> Response:
    return PlainTextResponse("deleted")


def test_starlette_decorator_redirects_a_stale_visitor_to_reauthenticate(
    clock: FakeClock,
) -> None:
    routes = [
        Route("/login", _login),
        Route("/reauth", _reauth),
        Route("/password", _change_password),
        Route("/api/delete", _api_delete),
    ]
    app = SessionMiddleware(Starlette(routes=routes), memory_config(clock))
    client = TestClient(app, follow_redirects=False)
    client.get("/login")
    assert client.get("/password?tab=2").text == "changed"
    clock.advance(301)
    stale = client.get("/password?tab=2")
    assert stale.status_code == 303
    assert stale.headers["location"] == "/reauth?next=/password%3Ftab%3D2"
    assert client.get("/api/delete").status_code == 401
    client.get("/reauth")
    assert client.get("/password").text == "changed"
    assert client.get("/api/delete").text == "deleted"


def test_fastapi_dependency_answers_401_or_redirects_when_auth_is_stale(
    clock: FakeClock,
) -> None:
    api = FastAPI()

    @api.get("/login")
    def login(session: fastapi_sessionary.SessionDep) -> str:
        auth.login(session, "ada")
        return "in"

    @api.post("/password", dependencies=[Depends(fastapi_sessionary.RecentAuth(300))])
    def password() -> str:
        return "changed"

    reauth = fastapi_sessionary.RecentAuth(300, reauth_url="/reauth")

    @api.get("/settings", dependencies=[Depends(reauth)])
    def settings_page() -> str:
        return "settings"

    client = TestClient(SessionMiddleware(api, memory_config(clock)), follow_redirects=False)
    assert client.post("/password").status_code == 401
    client.get("/login")
    assert client.post("/password").json() == "changed"
    clock.advance(301)
    assert client.post("/password").status_code == 401
    stale = client.get("/settings")
    assert (stale.status_code, stale.headers["location"]) == (303, "/reauth?next=/settings")


def test_flask_decorator_redirects_a_stale_visitor_to_reauthenticate(
    clock: FakeClock,
) -> None:
    app = Flask(__name__)
    flask_sessionary.init_app(app, memory_config(clock))

    @app.get("/login")
    def login() -> str:
        from flask import session

        assert isinstance(session, Session)
        auth.login(session, "ada")  # no data: the user binding alone keeps the session
        return "in"

    @app.get("/password")
    @flask_sessionary.requires_recent_auth(300, reauth_url="/reauth")
    def password() -> str:
        return "changed"

    @app.post("/api/delete")
    @flask_sessionary.requires_recent_auth(300)
    def delete() -> str:
        return "deleted"

    client = app.test_client()
    assert client.get("/password").status_code == 303
    client.get("/login")
    assert client.get("/password").text == "changed"
    assert client.post("/api/delete").text == "deleted"
    clock.advance(301)
    stale = client.get("/password?tab=2")
    assert stale.status_code == 303
    assert stale.headers["Location"] == "/reauth?next=/password%3Ftab%3D2"
    assert client.post("/api/delete").status_code == 401


@pytest.fixture
def django_clock(tmp_path: Path, clock: FakeClock) -> Iterator[FakeClock]:
    from django.test import override_settings

    from . import test_integration_django  # noqa: F401  (configures Django)
    from .examples import sqlite_store_url

    options = {"store": sqlite_store_url(tmp_path), "secret_key": SECRET, "clock": clock}
    with override_settings(SESSIONARY=options):
        yield clock
        from sessionary.integrations.django import get_config

        get_config().store.close()


def test_django_decorator_redirects_a_stale_visitor_to_reauthenticate(
    django_clock: FakeClock,
) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from sessionary.integrations import django as django_sessionary

    @django_sessionary.requires_recent_auth(300, reauth_url="/reauth/")
    def password(request: HttpRequest) -> HttpResponse:
        return HttpResponse("changed")

    @django_sessionary.requires_recent_auth(300)
    def api(request: HttpRequest) -> HttpResponse:
        return HttpResponse("deleted")

    def visit(key: str | None, path: str = "/password/?tab=2") -> HttpRequest:
        request = RequestFactory().get(path)
        request.session = django_sessionary.SessionStore(key)
        return request

    signing_in = visit(None)
    signing_in.session["_auth_user_id"] = "7"  # what django.contrib.auth.login stores
    signing_in.session.save()
    key = signing_in.session.session_key
    assert password(visit(key)).content == b"changed"
    django_clock.advance(301)
    stale = password(visit(key))
    assert (stale.status_code, stale["Location"]) == (303, "/reauth/?next=/password/%3Ftab%3D2")
    assert api(visit(key)).status_code == 401
    again = visit(key)
    django_sessionary.reauthenticate(again)
    again.session.save()
    assert api(visit(again.session.session_key)).content == b"deleted"
