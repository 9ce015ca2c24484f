"""SessionMiddleware as a drop-in for Starlette's: its keyword arguments, its
cookie, and a ``request.session`` that serialises and mutates as a dict does."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.datastructures import Secret
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import ConfigurationError, Session, SessionConfig, SessionMiddleware
from sessionary.stores.base import Store
from sessionary.stores.memory import MemoryStore

from .conftest import SECRET


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app for tests that only build the middleware."""


async def view(request: Request) -> JSONResponse:
    return JSONResponse({"session": request.session})


async def update(request: Request) -> JSONResponse:
    request.session.update(await request.json())
    return JSONResponse({"session": request.session})


async def merge(request: Request) -> JSONResponse:
    session = request.session
    session |= await request.json()
    return JSONResponse({"session": request.session})


async def pop_last(request: Request) -> JSONResponse:
    return JSONResponse({"popped": list(request.session.popitem())})


def app(**options: Any) -> TestClient:
    routes = [
        Route("/view", view),
        Route("/update", update, methods=["POST"]),
        Route("/merge", merge, methods=["POST"]),
        Route("/pop", pop_last, methods=["POST"]),
    ]
    built = Starlette(routes=routes, middleware=[Middleware(SessionMiddleware, **options)])
    return TestClient(built, base_url="https://testserver")


@pytest.fixture
def store() -> Store:
    return MemoryStore()


def test_starlette_keyword_arguments_set_the_cookie(store: Store) -> None:
    client = app(
        store=store,
        secret_key=SECRET,
        session_cookie="sid",
        max_age=600,
        path="/",
        same_site="strict",
        https_only=True,
        domain="example.com",
        partitioned=True,
    )
    cookie = client.post("/update", json={"a": 1}).headers["set-cookie"]
    assert re.match(r"sid=[a-z0-9]{32}; path=/; Max-Age=600; ", cookie)
    for part in ("domain=example.com", "secure", "httponly", "samesite=Strict", "partitioned"):
        assert f"; {part}" in cookie


def test_the_cookie_is_named_session_as_in_starlette(store: Store) -> None:
    client = app(store=store)
    client.post("/update", json={"a": 1})
    assert list(client.cookies) == ["session"]
    assert client.get("/view").json() == {"session": {"a": 1}}


def test_max_age_none_makes_a_browser_session_cookie(store: Store) -> None:
    cookie = app(store=store, max_age=None).post("/update", json={"a": 1}).headers["set-cookie"]
    assert "Max-Age" not in cookie
    assert "expires" not in cookie


def test_a_negative_max_age_is_a_cookie_dropped_at_once(store: Store) -> None:
    client = app(store=store, max_age=-1)
    cookie = client.post("/update", json={"a": 1}).headers["set-cookie"]
    assert "; Max-Age=0; " in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    replay = app(store=store, max_age=-1)
    replay.cookies.set("session", value)
    assert replay.get("/view").json() == {"session": {}}


def test_a_short_secret_is_ignored_by_a_server_side_store(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "sessionary"):
        middleware = SessionMiddleware(bare_app, store=store, secret_key=Secret("example"))
    assert middleware.config.secret_key is None
    assert "secret_key is ignored" in caplog.text


def test_a_short_secret_is_refused_where_it_would_seal_the_cookie() -> None:
    with pytest.raises(ConfigurationError, match="secret_key"):
        SessionMiddleware(bare_app, store="cookie://", secret_key="example")


def test_a_long_secret_is_kept(store: Store) -> None:
    assert SessionMiddleware(bare_app, store=store, secret_key=SECRET).config.secret_key == SECRET


def test_an_alias_and_its_field_together_are_refused(store: Store) -> None:
    with pytest.raises(TypeError, match="session_cookie"):
        SessionMiddleware(bare_app, store=store, session_cookie="a", cookie_name="b")


def test_a_config_and_options_together_are_refused(store: Store) -> None:
    with pytest.raises(TypeError, match="either a config or options"):
        SessionMiddleware(bare_app, SessionConfig(store=store), session_cookie="a")


def test_a_config_keeps_django_names(store: Store) -> None:
    client = TestClient(
        Starlette(
            routes=[Route("/update", update, methods=["POST"])],
            middleware=[Middleware(SessionMiddleware, config=SessionConfig(store=store))],
        )
    )
    client.post("/update", json={"a": 1})
    assert list(client.cookies) == ["sessionid"]


def test_merge_operator_and_popitem_persist(store: Store) -> None:
    client = app(store=store)
    client.post("/update", json={"a": "1", "b": "2"})
    assert client.post("/merge", json={"c": "3"}).json() == {
        "session": {"a": "1", "b": "2", "c": "3"}
    }
    assert client.post("/pop").json() == {"popped": ["c", "3"]}
    assert client.get("/view").json() == {"session": {"a": "1", "b": "2"}}


# -- request.session is a dict as far as json and comparisons can tell -------------


@pytest.fixture
def session() -> Session:
    return Session(SessionConfig(store=MemoryStore()))


def test_json_dumps_serialises_the_session_as_a_dict(session: Session) -> None:
    assert json.dumps(session) == "{}"
    session.update({"a": 1, "nested": {"b": [1, 2]}})
    expected = {"a": 1, "nested": {"b": [1, 2]}}
    assert json.dumps(session) == json.dumps(expected)
    assert json.dumps({"session": session}, indent=2) == json.dumps({"session": expected}, indent=2)


def test_a_deleted_or_cleared_key_leaves_the_json(session: Session) -> None:
    session.update({"a": 1, "b": 2})
    del session["a"]
    assert json.dumps(session) == '{"b": 2}'
    session.clear()
    assert json.dumps(session) == "{}"


def test_a_loaded_session_serialises_its_stored_values(session: Session) -> None:
    session["cart"] = ["tea"]
    session.save_sync()
    key = session.session_key
    again = Session(session.config, key)
    again.load_sync()
    assert json.dumps(again) == '{"cart": ["tea"]}'


def test_comparisons_and_operators_behave_as_for_a_dict(session: Session) -> None:
    session.update({"a": 1})
    assert session == {"a": 1}
    assert not session != {"a": 1}  # noqa: SIM202 - dict's own __ne__ must not answer
    assert session != {"a": 2}
    assert session | {"b": 2} == {"a": 1, "b": 2}
    assert {"b": 2} | session == {"b": 2, "a": 1}
    assert {**session} == {"a": 1}
    assert dict(session) == {"a": 1}
    assert list(reversed(session)) == ["a"]
    assert session.setdefault("a", 5) == 1
    assert session.setdefault("c", 3) == 3
    assert session.popitem() == ("c", 3)
