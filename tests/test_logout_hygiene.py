"""Logout hygiene: ``Clear-Site-Data: "cookies"`` when a logout asks for it
(by default for "log out everywhere", opt-in for a plain logout), on every edge."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from flask import Flask

from sessionary import Session, SessionConfig, SessionMiddleware, WSGISessionMiddleware, auth
from sessionary.integrations import flask as flask_sessionary
from sessionary.stores.base import Store

from .conftest import SECRET, FakeClock

CLEAR = '"cookies"'


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    session: Session = scope["session"]
    path = scope["path"]
    body: Any = None
    if path == "/login":
        session["name"] = "Ada"
        auth.login(session, "ada")
    elif path == "/logout":
        auth.logout(session)
    elif path == "/logout-everywhere":
        body = await auth.logout_everywhere(session)
    elif path == "/me":
        body = auth.get_user_id(session)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session: Session = environ["sessionary.session"]
    path = environ["PATH_INFO"]
    body: Any = None
    if path == "/login":
        session["name"] = "Ada"
        auth.login(session, "ada")
    elif path == "/logout":
        auth.logout(session)
    elif path == "/logout-and-clear":
        auth.logout(session, clear_site_data=True)
    elif path == "/me":
        body = auth.get_user_id(session)
    start_response("200 OK", [])
    return [json.dumps(body).encode()]


async def test_logging_out_everywhere_clears_this_browser_and_ends_every_session(
    store: Store, clock: FakeClock
) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as laptop,
        httpx.AsyncClient(transport=transport, base_url="http://t") as phone,
    ):
        await laptop.get("/login")
        await phone.get("/login")
        assert (await phone.get("/me")).json() == "ada"
        out = await laptop.get("/logout-everywhere")
        assert out.json() == 2
        assert out.headers["clear-site-data"] == CLEAR
        assert "Max-Age=0" in out.headers["set-cookie"]
        assert (await phone.get("/me")).json() is None
        assert await store.sessions_for("ada") == []


async def test_a_plain_logout_clears_site_data_only_when_configured(clock: FakeClock) -> None:
    for configured, expected in ((False, None), (True, CLEAR)):
        config = SessionConfig(store="memory://", clock=clock, clear_site_data_on_logout=configured)
        transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/login")
            out = await client.get("/logout")
            assert out.headers.get("clear-site-data") == expected
            assert "Max-Age=0" in out.headers["set-cookie"]


def test_wsgi_logout_can_ask_to_clear_site_data(clock: FakeClock) -> None:
    config = SessionConfig(store="memory://", clock=clock)
    with httpx.Client(
        transport=httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config)),
        base_url="http://t",
    ) as client:
        client.get("/login")
        assert "clear-site-data" not in client.get("/logout").headers
        client.get("/login")
        out = client.get("/logout-and-clear")
        assert out.headers["clear-site-data"] == CLEAR
        assert client.get("/me").json() is None


def test_flask_logout_can_ask_to_clear_site_data(clock: FakeClock) -> None:
    app = Flask(__name__)
    flask_sessionary.init_app(app, SessionConfig(store="memory://", clock=clock))

    @app.get("/login")
    def login() -> str:
        from flask import session

        assert isinstance(session, Session)
        session["name"] = "Ada"
        auth.login(session, "ada")
        return "in"

    @app.get("/logout")
    def logout() -> str:
        from flask import session

        assert isinstance(session, Session)
        auth.logout(session, clear_site_data=True)
        return "out"

    client = app.test_client()
    client.get("/login")
    out = client.get("/logout")
    assert out.headers["Clear-Site-Data"] == CLEAR
    assert "Max-Age=0" in out.headers["Set-Cookie"]


@pytest.fixture
def django_store(tmp_path: Any, clock: FakeClock) -> Any:
    from django.test import override_settings

    from . import test_integration_django  # noqa: F401  (configures Django)
    from .examples import sqlite_store_url

    options = {"store": sqlite_store_url(tmp_path), "secret_key": SECRET, "clock": clock}
    with override_settings(SESSIONARY=options):
        yield
        from sessionary.integrations.django import get_config

        get_config().store.close()


def test_django_logout_can_ask_to_clear_site_data(django_store: None) -> None:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory

    from sessionary.integrations import django as django_sessionary

    # What django.contrib.auth.logout does to the session (the example project
    # does not install contrib.auth).
    def logout(request: HttpRequest) -> None:
        request.session.flush()

    def view(request: HttpRequest) -> HttpResponse:
        logout(request)
        django_sessionary.clear_site_data(request)
        return HttpResponse("out")

    def plain(request: HttpRequest) -> HttpResponse:
        logout(request)
        return HttpResponse("out")

    middleware = django_sessionary.SessionMiddleware(view)
    request = RequestFactory().get("/")
    request.session = django_sessionary.SessionStore()
    request.session["name"] = "Ada"
    request.session.save()
    key = request.session.session_key
    request = RequestFactory().get("/", HTTP_COOKIE=f"sessionid={key}")
    response = middleware(request)
    assert response["Clear-Site-Data"] == CLEAR
    assert response.cookies["sessionid"].value == ""
    request = RequestFactory().get("/")
    assert "Clear-Site-Data" not in django_sessionary.SessionMiddleware(plain)(request)
