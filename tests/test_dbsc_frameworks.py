"""Device-bound sessions on Flask and Django, driven by the DBSC test agent on every store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import django
import flask
import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path

from sessionary import Session, SessionConfig, auth
from sessionary.dbsc import DBSCConfig
from sessionary.integrations import django as sessionary_django
from sessionary.integrations.flask import init_app
from sessionary.stores.base import Store

from .conftest import SECRET, FakeClock
from .dbsc_agent import Agent, DeviceKey, refresh_headers
from .dbsc_apps import wsgi_sender
from .examples import load_example

AGE = 300
REFRESH = "/.sessionary/dbsc/refresh"

if not settings.configured:
    example_settings = load_example("shop.settings")
    names = [name for name in dir(example_settings) if name.isupper()]
    settings.configure(**{name: getattr(example_settings, name) for name in names})
    django.setup()


def _server_side(store: Store) -> None:
    if store.client_side:
        pytest.skip("device-bound sessions need a server-side store")


def flask_app(store: Store) -> flask.Flask:
    app = flask.Flask(__name__, static_folder=None)
    init_app(app, SessionConfig(store=store, secret_key=SECRET, dbsc=DBSCConfig(cookie_age=AGE)))

    def session() -> Session:
        current = flask.session
        assert isinstance(current, Session)
        return current

    @app.post("/login")
    def login() -> Any:
        auth.login(session(), "alice")
        return {"ok": True}

    @app.post("/logout")
    def logout() -> Any:
        auth.logout(session())
        return {"ok": True}

    @app.get("/me")
    def me() -> Any:
        return {"user": session().user_id, "bound": session().device_bound}

    return app


# -- Django: views on sessionary's SESSION_ENGINE and middleware -------------------


def _django_login(request: HttpRequest) -> HttpResponse:
    # What django.contrib.auth.login does to the session.
    request.session.cycle_key()
    request.session["_auth_user_id"] = "7"
    sessionary_django.offer_dbsc(request)
    return JsonResponse({"ok": True})


def _django_logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()  # django.contrib.auth.logout
    return JsonResponse({"ok": True})


def _django_me(request: HttpRequest) -> HttpResponse:
    session = request.session
    assert isinstance(session, sessionary_django.SessionStore)
    return JsonResponse(
        {"user": session.get("_auth_user_id"), "bound": session._inner.device_bound}
    )


urlpatterns = [
    path("login", _django_login),
    path("logout", _django_logout),
    path("me", _django_me),
]


@pytest.fixture
def django_app(store: Store) -> Iterator[Any]:
    _server_side(store)
    middleware = ["sessionary.integrations.django.SessionMiddleware"]
    options = {"store": store, "secret_key": SECRET, "dbsc": DBSCConfig(cookie_age=AGE)}
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=middleware,
        SESSIONARY=options,
        SESSION_ENGINE="sessionary.integrations.django",
        ALLOWED_HOSTS=["app.example"],
    ):
        sessionary_django._settings_changed(setting="SESSIONARY")
        yield WSGIHandler()
    sessionary_django._settings_changed(setting="SESSIONARY")


@pytest.fixture(params=["flask", "django"])
def agent_for(request: pytest.FixtureRequest, store: Store, clock: FakeClock) -> Any:
    _server_side(store)
    if request.param == "flask":
        app: Any = flask_app(store)
        user = "alice"
    else:
        app = request.getfixturevalue("django_app")
        user = "7"

    def make() -> Agent:
        return Agent(wsgi_sender(app), clock)

    make.user = user  # type: ignore[attr-defined]
    return make


async def test_register_refresh_and_theft(agent_for: Any, clock: FakeClock) -> None:
    agent: Agent = agent_for()
    assert (await agent.post("/login")).status == 200
    assert agent.log == [("register", 200)]
    for _ in range(5):
        clock.advance(AGE + 1)
        me = (await agent.get("/me")).json()
        assert me == {"user": agent_for.user, "bound": True}
    assert [s for k, s in agent.log if k == "refresh"] == [200] * 5
    thief = agent_for()
    thief.cookies = dict(agent.cookies)
    clock.advance(AGE + 11)
    assert (await thief.fetch("GET", "/me", [])).json() == {"user": None, "bound": False}
    assert (await agent.get("/me")).json()["bound"] is True


async def test_forged_proof_ends_the_session(agent_for: Any, clock: FakeClock) -> None:
    agent: Agent = agent_for()
    await agent.post("/login")
    session = next(iter(agent.sessions.values()))
    forged = DeviceKey("ES256").proof(session.cached_challenge or "")
    response = await agent.fetch(
        "POST",
        REFRESH,
        refresh_headers(session, forged),
    )
    assert response.json() == {"continue": False}
    clock.advance(AGE + 1)
    assert (await agent.get("/me")).json()["user"] is None


async def test_concurrent_refreshes_answer_200_or_403(agent_for: Any, clock: FakeClock) -> None:
    agent: Agent = agent_for()
    await agent.post("/login")
    session = next(iter(agent.sessions.values()))
    proof = session.key.proof(session.cached_challenge or "")
    headers = refresh_headers(session, proof)
    answers = await asyncio.gather(*(agent.fetch("POST", REFRESH, headers) for _ in range(20)))
    assert sorted(a.status for a in answers) == [200] + [403] * 19
    clock.advance(AGE + 1)
    assert (await agent.get("/me")).json()["bound"] is True


async def test_logout_clears_site_data(agent_for: Any) -> None:
    agent: Agent = agent_for()
    await agent.post("/login")
    response = await agent.post("/logout")
    assert response.header("clear-site-data") == '"cookies"'
    assert agent.sessions == {}
