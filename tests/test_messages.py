"""SPEC section 5: flash messages in the session, a signed cookie, or both."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, jsonify
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import Session, SessionConfig, SessionMiddleware, messages
from sessionary.exceptions import ConfigurationError
from sessionary.integrations.flask import init_app
from sessionary.messages import MessagesMiddleware, WSGIMessagesMiddleware
from sessionary.stores.memory import MemoryStore

from .conftest import SECRET


@pytest.fixture
def session() -> Session:
    return Session(SessionConfig(store=MemoryStore()))


def test_levels_and_tags_are_djangos(session: Session) -> None:
    assert (messages.DEBUG, messages.INFO, messages.SUCCESS) == (10, 20, 25)
    assert (messages.WARNING, messages.ERROR) == (30, 40)
    messages.success(session, "Saved.", extra_tags="fade")
    messages.error(session, "Oops.")
    messages.add(session, 35, "Custom.", extra_tags="odd")
    saved, oops, custom = list(messages.get_messages(session))
    assert (saved.level, saved.message, str(saved)) == (25, "Saved.", "Saved.")
    assert (saved.level_tag, saved.extra_tags, saved.tags) == ("success", "fade", "fade success")
    assert (oops.level_tag, oops.tags) == ("error", "error")
    assert (custom.level_tag, custom.tags) == ("", "odd")


def test_messages_below_the_minimum_level_are_dropped(session: Session) -> None:
    assert messages.debug(session, "hidden") is False
    assert messages.info(session, "shown") is True
    assert [m.message for m in messages.get_messages(session)] == ["shown"]


def test_set_level_needs_a_request(session: Session) -> None:
    assert messages.set_level(session, messages.DEBUG) is False


def test_not_iterating_keeps_messages(session: Session) -> None:
    messages.warning(session, "Careful.")
    pending = messages.get_messages(session)
    assert len(pending) == 1
    assert bool(pending)
    assert [m.message for m in messages.get_messages(session)] == ["Careful."]
    assert list(messages.get_messages(session)) == []


def test_messages_are_stored_as_json_in_djangos_layout(session: Session) -> None:
    messages.info(session, "Hi <b>")
    raw = session._raw["_messages"]
    assert json.loads(json.loads(raw)) == [["__json_message", 0, 20, "Hi <b>", ""]]
    from django.contrib.messages.storage.cookie import MessageDecoder

    (decoded,) = json.loads(session["_messages"], cls=MessageDecoder)
    assert (decoded.level, decoded.message) == (20, "Hi <b>")


def test_targets_must_carry_a_session() -> None:
    with pytest.raises(TypeError, match="session"):
        messages.info(object(), "nowhere")


# -- over HTTP ---------------------------------------------------------------------------


async def add(request: Request) -> Response:
    level = int(request.query_params.get("level", messages.INFO))
    if "min" in request.query_params:
        messages.set_level(request, int(request.query_params["min"]))
    for text in request.query_params.getlist("text"):
        messages.add(request, level, text, request.query_params.get("tags", ""))
    return RedirectResponse("/show", status_code=303)


async def show(request: Request) -> Response:
    return JSONResponse([[m.level, m.message, m.tags] for m in messages.get_messages(request)])


async def peek(request: Request) -> Response:
    return JSONResponse(len(messages.get_messages(request)))


def starlette_app(**middleware: Any) -> Starlette:
    stack = [Middleware(SessionMiddleware, config=SessionConfig(store=MemoryStore()))]
    if middleware:
        stack.append(Middleware(MessagesMiddleware, secret_key=SECRET, **middleware))
    return Starlette(
        routes=[Route("/add", add), Route("/show", show), Route("/peek", peek)],
        middleware=stack,
    )


@pytest.fixture
def default_client() -> Iterator[TestClient]:
    with TestClient(starlette_app()) as client:
        yield client


def test_session_storage_needs_no_middleware(default_client: TestClient) -> None:
    response = default_client.get("/add?text=Saved.&level=25&tags=fade")
    assert response.json() == [[25, "Saved.", "fade success"]]
    assert default_client.get("/show").json() == []


def test_peeking_does_not_consume(default_client: TestClient) -> None:
    default_client.get("/add?text=one&text=two", follow_redirects=False)
    assert default_client.get("/peek").json() == 2
    assert default_client.get("/show").json() == [[20, "one", "info"], [20, "two", "info"]]


def test_set_level_per_request(default_client: TestClient) -> None:
    default_client.get("/add?text=dropped&level=10", follow_redirects=False)
    response = default_client.get("/add?text=kept&level=10&min=10")
    assert response.json() == [[10, "kept", "debug"]]


def test_middleware_sets_the_default_minimum_level() -> None:
    with TestClient(starlette_app(storage="session", level=messages.WARNING)) as client:
        client.get("/add?text=dropped&level=25", follow_redirects=False)
        assert client.get("/add?text=kept&level=30").json() == [[30, "kept", "warning"]]


def test_cookie_storage_carries_messages_without_a_session() -> None:
    with TestClient(starlette_app(storage="cookie")) as client:
        first = client.get("/add?text=Hello", follow_redirects=False)
        assert "sessionid" not in first.cookies
        assert "messages" in first.cookies
        assert client.get("/show").json() == [[20, "Hello", "info"]]
        assert "messages" not in client.cookies
        assert client.get("/show").json() == []


def test_forged_message_cookie_is_ignored() -> None:
    with TestClient(starlette_app(storage="cookie")) as client:
        client.get("/add?text=Hello", follow_redirects=False)
        value = client.cookies["messages"]
        payload, _, signature = value.rpartition(".")
        client.cookies.set("messages", payload + "." + signature[::-1])
        response = client.get("/show")
        assert response.status_code == 200
        assert response.json() == []
        client.cookies.set("messages", "garbage")
        assert client.get("/show").json() == []


def test_fallback_keeps_small_messages_in_the_cookie() -> None:
    with TestClient(starlette_app(storage="fallback")) as client:
        first = client.get("/add?text=small", follow_redirects=False)
        assert "sessionid" not in first.cookies
        assert client.get("/show").json() == [[20, "small", "info"]]


def test_fallback_overflows_into_the_session_in_order() -> None:
    texts = [f"{i}:" + "x" * 600 for i in range(6)]
    query = "&".join(f"text={t}" for t in texts)
    with TestClient(starlette_app(storage="fallback")) as client:
        first = client.get(f"/add?{query}", follow_redirects=False)
        assert "messages" in first.cookies
        assert "sessionid" in first.cookies
        assert len(first.cookies["messages"]) <= 2048
        shown = client.get("/show").json()
        assert [message for _, message, _ in shown] == texts
        assert "messages" not in client.cookies
        assert client.get("/show").json() == []


def test_cookie_storages_need_a_secret() -> None:
    with pytest.raises(ConfigurationError, match="secret_key"):
        MessagesMiddleware(starlette_app(), storage="cookie")
    with pytest.raises(ConfigurationError, match="storage"):
        MessagesMiddleware(starlette_app(), storage="pigeon", secret_key=SECRET)  # type: ignore[arg-type]


def test_flask_fallback_storage_through_the_wsgi_middleware() -> None:
    app = Flask(__name__)
    init_app(app, SessionConfig(store=MemoryStore()))
    app.wsgi_app = WSGIMessagesMiddleware(app.wsgi_app, secret_key=SECRET)  # type: ignore[method-assign]

    @app.get("/add")
    def add_flask() -> Any:
        for text in flask_request.args.getlist("text"):
            messages.success(flask_request, text)
        return "", 204

    @app.get("/show")
    def show_flask() -> Any:
        return jsonify([m.message for m in messages.get_messages(flask_request)])

    client = app.test_client()
    big = ["a" * 900, "b" * 900, "c" * 900]
    client.get("/add?" + "&".join(f"text={t}" for t in big))
    assert client.get_cookie("messages") is not None
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]) is not None
    assert client.get("/show").json == big
    assert client.get("/show").json == []
