"""examples/flask_app.py: ``flask.session`` as a sessionary session (SPEC section 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sessionary import SessionConfig
from sessionary.exceptions import ConfigurationError
from sessionary.integrations.flask import FlaskSession, SessionaryInterface, init_app
from sessionary.stores import from_url

from .conftest import SECRET
from .examples import load_example, message_items, sqlite_store_url


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return sqlite_store_url(tmp_path)


def make_client(store_url: str, **options: object) -> FlaskClient:
    config = SessionConfig(store=store_url, secret_key=SECRET, **options)  # type: ignore[arg-type]
    app: Flask = load_example("flask_app").create_app(config)
    return app.test_client()


@pytest.fixture
def client(store_url: str) -> FlaskClient:
    return make_client(store_url)


def cookie(client: FlaskClient) -> str | None:
    found = client.get_cookie("sessionid")
    return found.value if found is not None else None


def session_set_cookie(response: TestResponse) -> str:
    headers = response.headers.getlist("Set-Cookie")
    return next(h for h in headers if h.startswith("sessionid="))


def test_session_is_written_and_read_back(client: FlaskClient) -> None:
    assert "visit 1." in client.get("/").text
    assert "visit 2." in client.get("/").text
    assert client.get("/state").json == {"visits": 2}


def test_untouched_request_sets_no_cookie(client: FlaskClient) -> None:
    response = client.get("/state")
    assert response.headers.getlist("Set-Cookie") == []
    assert cookie(client) is None


def test_a_view_that_ignores_the_session_gets_no_vary(store_url: str) -> None:
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))

    @app.get("/")
    def index() -> str:
        return "hello"

    response = app.test_client().get("/")
    assert "Vary" not in response.headers
    assert response.headers.getlist("Set-Cookie") == []


def test_session_transaction_in_flask_tests(store_url: str) -> None:
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))

    @app.get("/")
    def index() -> str:
        return str(session.get("user"))

    client = app.test_client()
    with client.session_transaction() as prepared:
        prepared["user"] = "ada"
    assert client.get("/").text == "ada"


def test_flash_message_after_redirect_then_gone(client: FlaskClient) -> None:
    response = client.post("/name", data={"name": "Ada"}, follow_redirects=True)
    assert response.history[0].status_code == 303
    assert message_items(response.text) == ['class="success">Hello, Ada!']
    assert "Hello Ada" in response.text
    assert message_items(client.get("/").text) == []


def test_new_sessions_are_not_permanent_as_in_flask(client: FlaskClient) -> None:
    response = client.post("/name", data={"name": "Ada"})
    header = session_set_cookie(response)
    assert "Max-Age" not in header
    assert "expires" not in header
    assert "until the browser closes" in client.get("/").text


def test_permanent_session_lives_cookie_age(store_url: str) -> None:
    client = make_client(store_url, cookie_age=600)
    response = client.post("/name", data={"name": "Ada", "remember": "on"})
    assert "Max-Age=600" in session_set_cookie(response)
    page = client.get("/")
    assert "This session is permanent" in page.text
    # Dropping the flag turns it back into a browser-session cookie.
    response = client.post("/name", data={"name": "Ada"})
    assert "Max-Age" not in session_set_cookie(response)


def test_cycle_key_and_flush(client: FlaskClient, store_url: str) -> None:
    client.post("/name", data={"name": "Ada"}, follow_redirects=True)
    first = cookie(client)
    response = client.post("/cycle", follow_redirects=True)
    second = cookie(client)
    assert first is not None
    assert second not in (None, first)
    assert message_items(response.text) == ['class="info">New session key, same data.']
    assert cast(dict[str, Any], client.get("/state").json)["name"] == "Ada"
    response = client.post("/flush", follow_redirects=True)
    assert message_items(response.text) == ['class="warning">Session forgotten.']
    assert client.get("/state").json == {"visits": 1}
    store = from_url(store_url)
    assert not store.exists_sync(first)
    assert not store.exists_sync(second)


def test_new_and_modified_follow_flask(store_url: str) -> None:
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))
    seen: list[tuple[bool, bool]] = []

    @app.get("/write")
    def write() -> str:
        assert isinstance(session, FlaskSession) or isinstance(
            session._get_current_object(),  # type: ignore[attr-defined]
            FlaskSession,
        )
        seen.append((session.new, session.modified))
        session["n"] = 1
        seen.append((session.new, session.modified))
        return "ok"

    client = app.test_client()
    client.get("/write")
    client.get("/write")
    assert seen == [(True, False), (True, True), (False, False), (False, True)]


def test_nested_change_is_saved_without_modified(store_url: str) -> None:
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))

    @app.get("/add/<item>")
    def add(item: str) -> list[str]:
        cart: list[str] = session.setdefault("cart", [])
        cart.append(item)
        return cart

    client = app.test_client()
    client.get("/add/a")
    assert client.get("/add/b").json == ["a", "b"]


def test_store_outage_answers_503_and_keeps_the_cookie(tmp_path: Path) -> None:
    # A store whose table was never created: every load fails.
    app = Flask(__name__)
    init_app(app, SessionConfig(store=f"sqlite:///{tmp_path / 'missing.db'}"))

    @app.get("/")
    def index() -> str:
        return str(session.get("x"))

    client = app.test_client()
    client.set_cookie("sessionid", "a" * 32)
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers.getlist("Set-Cookie") == []


def test_permanent_default_cannot_contradict_the_config(store_url: str) -> None:
    with pytest.raises(ConfigurationError, match="expire_at_browser_close"):
        SessionaryInterface(
            SessionConfig(store=store_url, expire_at_browser_close=True), permanent=True
        )
