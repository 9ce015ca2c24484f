"""examples/flask_app.py: ``flask.session`` as a sessionary session (SPEC section 4)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask import request as flask_request
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sessionary import Session, SessionConfig
from sessionary.exceptions import ConfigurationError
from sessionary.integrations.flask import FlaskSession, SessionaryInterface, init_app
from sessionary.stores import DatabaseStore, from_url

from .conftest import SECRET
from .examples import load_example, message_items, sqlite_store_url
from .faults import TcpProxy
from .store_registry import require_server

# Flask's SESSION_COOKIE_NAME applies where the SessionConfig leaves cookie_name unset.
COOKIE = "session"


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
    found = client.get_cookie(COOKIE)
    return found.value if found is not None else None


def session_set_cookie(response: TestResponse) -> str:
    headers = response.headers.getlist("Set-Cookie")
    return next(h for h in headers if h.startswith(f"{COOKIE}="))


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
    assert not store.exists_sync(second)
    # The first key led to the second for the grace window: it opens nothing now.
    stale = Session(SessionConfig(store=store), first)
    stale.load_sync()
    assert stale.session_key is None


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
    client.set_cookie(COOKIE, "a" * 32)
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers.getlist("Set-Cookie") == []


def test_permanent_default_cannot_contradict_the_config(store_url: str) -> None:
    with pytest.raises(ConfigurationError, match="expire_at_browser_close"):
        SessionaryInterface(
            SessionConfig(store=store_url, expire_at_browser_close=True), permanent=True
        )


# -- Flask's dialect ----------------------------------------------------------------


def flask_app(store_url: str, config: SessionConfig | None = None, **settings: object) -> Flask:
    """An app whose /set view writes the session, with Flask ``settings`` in app.config."""
    app = Flask(__name__)
    app.config.update(settings)
    init_app(app, config or SessionConfig(store=store_url))

    @app.get("/set")
    def set_value() -> str:
        session["n"] = 1
        return "ok"

    @app.get("/read")
    def read() -> str:
        return str(session.get("n"))

    return app


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"SESSION_COOKIE_SECURE": True}, "; Secure"),
        ({"SESSION_COOKIE_NAME": "flask_sid"}, "flask_sid="),
        ({"SESSION_COOKIE_DOMAIN": ".example.com"}, "Domain=.example.com"),
        ({"SESSION_COOKIE_PATH": "/app"}, "Path=/app"),
        ({"APPLICATION_ROOT": "/root"}, "Path=/root"),
        ({"SESSION_COOKIE_SAMESITE": "Strict"}, "SameSite=Strict"),
        (
            {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_PARTITIONED": True},
            "; Partitioned",
        ),
    ],
)
def test_flask_cookie_settings_shape_the_cookie(
    store_url: str, settings: dict[str, object], expected: str
) -> None:
    app = flask_app(store_url)
    app.config.update(settings)  # read per request: set after init_app, as an app may
    response = app.test_client().get("/set")
    (header,) = response.headers.getlist("Set-Cookie")
    assert expected.lower() in header.lower()  # attribute names are case-insensitive


def test_secure_false_by_default_and_httponly_can_be_turned_off(store_url: str) -> None:
    app = flask_app(store_url, SESSION_COOKIE_HTTPONLY=False)
    (header,) = app.test_client().get("/set").headers.getlist("Set-Cookie")
    assert "httponly" not in header.lower()
    assert "secure" not in header.lower()


def test_an_app_that_left_flasks_samesite_default_gets_lax(store_url: str) -> None:
    # Flask's own default is no SameSite at all; sessionary's secure default wins.
    (header,) = flask_app(store_url).test_client().get("/set").headers.getlist("Set-Cookie")
    assert "samesite=lax" in header.lower()


def test_samesite_none_set_by_the_app_after_init_app_is_obeyed(store_url: str) -> None:
    app = flask_app(store_url)
    app.config["SESSION_COOKIE_SAMESITE"] = None
    (header,) = app.test_client().get("/set").headers.getlist("Set-Cookie")
    assert "samesite" not in header.lower()


def test_settings_changed_between_requests_are_obeyed(store_url: str) -> None:
    app = flask_app(store_url)
    client = app.test_client()
    assert "secure" not in client.get("/set").headers["Set-Cookie"].lower()
    app.config["SESSION_COOKIE_SECURE"] = True
    assert "secure" in app.test_client().get("/set").headers["Set-Cookie"].lower()


def test_a_field_the_config_sets_wins_over_flask(store_url: str) -> None:
    config = SessionConfig(store=store_url, cookie_name="mine", cookie_secure=True)
    app = flask_app(store_url, config, SESSION_COOKIE_NAME="theirs", SESSION_COOKIE_SECURE=False)
    header = app.test_client().get("/set").headers["Set-Cookie"]
    assert header.startswith("mine=")
    assert "secure" in header.lower()


def test_an_invalid_samesite_setting_raises_value_error(store_url: str) -> None:
    app = flask_app(store_url, SESSION_COOKIE_SAMESITE="invalid")
    app.testing = True
    with pytest.raises(ValueError, match="cookie_samesite"):
        app.test_client().get("/set")


def test_permanent_session_lifetime_is_the_permanent_cookie_age(store_url: str) -> None:
    app = flask_app(store_url, PERMANENT_SESSION_LIFETIME=3600)

    @app.get("/login")
    def login() -> str:
        session["user"] = "ada"
        session.permanent = True
        return "ok"

    assert "max-age=3600" in app.test_client().get("/login").headers["Set-Cookie"].lower()


def test_refresh_each_request_extends_a_permanent_session(store_url: str) -> None:
    app = flask_app(store_url)

    @app.get("/login")
    def login() -> str:
        session["user"] = "ada"
        session.permanent = True
        return "ok"

    client = app.test_client()
    client.get("/login")
    refreshed = client.get("/read")
    assert "max-age=" in refreshed.headers["Set-Cookie"].lower()
    assert refreshed.headers["Vary"] == "Cookie"
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert client.get("/read").headers.getlist("Set-Cookie") == []


def test_flask_tagged_types_round_trip_through_the_store(store_url: str) -> None:
    import datetime as dt
    import uuid

    from markupsafe import Markup

    values = {
        "bytes": b"\xff\x00",
        "tuple": (1, 2, 3),
        "markup": Markup("<b>hi</b>"),
        "uuid": uuid.uuid4(),
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "tag_like": {" t": "not-a-tuple", " di": "not-a-dict"},
    }
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))
    read_back: dict[str, object] = {}

    @app.get("/write")
    def write() -> str:
        session.update(values)
        return "ok"

    @app.get("/read")
    def read() -> str:
        read_back.update((name, session[name]) for name in values)
        return "ok"

    client = app.test_client()
    client.get("/write")
    client.get("/read")  # a new request: decoded from the stored record
    assert read_back == values
    assert type(read_back["bytes"]) is bytes
    assert type(read_back["tuple"]) is tuple
    assert type(read_back["markup"]) is Markup


def test_a_change_made_in_after_request_is_saved(store_url: str) -> None:
    app = flask_app(store_url)

    @app.after_request
    def stamp(response: object) -> object:
        session["stamped"] = True
        return response

    @app.get("/stamped")
    def stamped() -> str:
        return str(session.get("stamped"))

    client = app.test_client()
    assert client.get("/stamped").text == "None"
    assert client.get("/stamped").text == "True"


def test_modified_stays_true_after_the_response_as_in_flask(store_url: str) -> None:
    from flask.globals import request_ctx

    client = flask_app(store_url).test_client()
    with client:
        client.get("/set")
        assert request_ctx._session.modified  # type: ignore[union-attr]
        assert request_ctx._session.accessed  # type: ignore[union-attr]
    with client:
        client.get("/read")
        assert not request_ctx._session.modified  # type: ignore[union-attr]


def test_emptying_the_session_deletes_it_and_its_cookie_as_flask_does(store_url: str) -> None:
    app = flask_app(store_url)

    @app.get("/empty")
    def empty() -> str:
        session.pop("n", None)
        return "ok"

    client = app.test_client()
    client.get("/set")
    key = cookie(client)
    response = client.get("/empty")
    assert "max-age=0" in response.headers["Set-Cookie"].lower()
    assert key is not None
    assert not from_url(store_url).exists_sync(key)


@pytest.mark.parametrize("transport", ["header", "url"])
def test_every_transport_keeps_one_session_on_flask(store_url: str, transport: str) -> None:
    config = SessionConfig(store=store_url, transport=transport, url_allow_insecure=True)  # type: ignore[arg-type]
    app = Flask(__name__)
    init_app(app, config)

    @app.get("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    first = client.get("/count")
    token = first.headers["X-Session-Token"]
    assert first.text == "1"
    if transport == "header":
        second = client.get("/count", headers={"X-Session-Token": token})
    else:
        second = client.get(f"/count?sid={token}")
    assert second.text == "2"
    assert "X-Session-Token" not in second.headers  # same key: nothing new to carry


def test_pop_marks_modified_as_flask_does_but_not_when_it_raises(store_url: str) -> None:
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))
    seen: list[bool] = []

    @app.get("/")
    def view() -> str:
        with pytest.raises(KeyError):
            session.pop("missing")
        seen.append(session.modified)
        session.pop("missing", None)
        seen.append(session.modified)
        return "ok"

    app.test_client().get("/")
    assert seen == [False, True]


# -- a real outage: PostgreSQL behind a proxy the test cuts --------------------------


@pytest.fixture
def pg_behind_proxy() -> Iterator[tuple[DatabaseStore, TcpProxy]]:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    proxy = TcpProxy(5432)
    table = f"sessionary_flask_outage_{uuid.uuid4().hex[:10]}"
    store = DatabaseStore(
        f"postgresql://postgres@127.0.0.1:{proxy.port}/test", table=table, connect_timeout=2
    )
    store.migrate_sync()
    yield store, proxy
    store.close()
    proxy.close()
    direct = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with direct.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    direct.dispose()


def test_flask_answers_503_when_postgresql_dies_mid_request_and_recovers(
    pg_behind_proxy: tuple[DatabaseStore, TcpProxy],
) -> None:
    store, proxy = pg_behind_proxy
    app = Flask(__name__)
    init_app(app, SessionConfig(store=store))

    @app.get("/write")
    def write() -> str:
        session["n"] = session.get("n", 0) + 1
        if "cut" in flask_request.args:
            proxy.cut()  # the server dies before the response saves the session
        return str(session["n"])

    client = app.test_client()
    assert client.get("/write").text == "1"
    died = client.get("/write?cut=1")
    assert died.status_code == 503
    assert died.headers["Retry-After"] == "5"
    down = client.get("/write")  # still down: refused before the view runs
    assert down.status_code == 503
    assert down.headers.getlist("Set-Cookie") == []
    proxy.restore()
    assert client.get("/write").text == "2"  # the failed save left no trace


def test_a_login_on_a_session_without_data_keeps_its_cookie(store_url: str) -> None:
    from sessionary import auth

    app = Flask(__name__)
    init_app(app, SessionConfig(store=store_url))

    @app.get("/login")
    def login() -> str:
        auth.login(cast(FlaskSession, session), "ada")
        return "in"

    @app.get("/who")
    def who() -> str:
        return str(auth.get_user_id(cast(FlaskSession, session)))

    client = app.test_client()
    assert "Max-Age=0" not in client.get("/login").headers["Set-Cookie"]
    assert client.get("/who").text == "ada"
