"""The example Django project on sessionary's SESSION_ENGINE, and one session
shared by a Django view and a Starlette view (same SQLite file, same secret)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import django
import pytest
import sqlalchemy as sa
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path
from starlette.testclient import TestClient

from sessionary import SessionConfig
from sessionary.exceptions import ConfigurationError
from sessionary.stores import DatabaseStore, from_url

from .conftest import SECRET
from .examples import load_example, message_items, sqlite_store_url
from .faults import TcpProxy
from .store_registry import require_server

example_settings = load_example("shop.settings")
if not settings.configured:
    names = [name for name in dir(example_settings) if name.isupper()]
    settings.configure(**{name: getattr(example_settings, name) for name in names})
    django.setup()


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    url = sqlite_store_url(tmp_path)
    with override_settings(SESSIONARY={"store": url, "secret_key": SECRET}):
        yield url
        from sessionary.integrations.django import get_config

        get_config().store.close()


@pytest.fixture
def client(store_url: str) -> Client:
    return Client()


def key_of(client: Client) -> str:
    return str(client.cookies["sessionid"].value)


def test_session_is_written_and_read_back(client: Client) -> None:
    assert "visit 1." in client.get("/").content.decode()
    assert "visit 2." in client.get("/").content.decode()
    assert client.get("/state").json() == {"visits": 2}


def test_untouched_request_sets_no_cookie(client: Client) -> None:
    response = client.get("/state")
    assert "sessionid" not in response.cookies


def test_flash_message_after_redirect_then_gone(client: Client) -> None:
    response = client.post("/name", {"name": "Ada"}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert message_items(response.content.decode()) == ['class="success">Hello, Ada!']
    assert message_items(client.get("/").content.decode()) == []


def test_cycle_key_keeps_data_and_retires_the_old_key(client: Client, store_url: str) -> None:
    client.post("/name", {"name": "Ada"}, follow=True)
    old = key_of(client)
    response = client.post("/cycle", follow=True)
    new = key_of(client)
    assert new != old
    assert message_items(response.content.decode()) == ['class="info">New session key, same data.']
    assert client.get("/state").json()["name"] == "Ada"
    from sessionary.integrations.django import SessionStore

    # The old key is no session of its own (it serves the new one for the
    # grace window), as Django's exists() reports.
    assert not SessionStore().exists(old)
    assert SessionStore().exists(new)
    assert from_url(store_url).exists_sync(new)


def test_flush_deletes_the_record_at_once(client: Client, store_url: str) -> None:
    client.post("/name", {"name": "Ada"}, follow=True)
    old = key_of(client)
    response = client.post("/flush", follow=True)
    assert message_items(response.content.decode()) == ['class="warning">Session forgotten.']
    assert client.get("/state").json() == {"visits": 1}
    assert key_of(client) != old
    assert not from_url(store_url).exists_sync(old)


def test_session_store_api_outside_a_request(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["a"] = 1
    session.set_expiry(300)
    session.save()
    key = session.session_key
    assert key is not None
    assert session.exists(key)
    again = SessionStore(key)
    assert again["a"] == 1
    assert again.get_expiry_age() == 300
    assert not again.get_expire_at_browser_close()
    again.cycle_key()
    again.save()
    assert not session.exists(key)
    assert SessionStore(again.session_key)["a"] == 1
    SessionStore.clear_expired()


def test_test_clients_session_property(client: Client) -> None:
    session = client.session  # Django creates and saves an empty session
    session["name"] = "Zed"
    session.save()
    assert client.get("/state").json() == {"name": "Zed"}


def test_django_login_joins_the_per_user_index(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["_auth_user_id"] = "7"  # what django.contrib.auth.login stores
    session.save()
    (listed,) = from_url(store_url).sessions_for_sync("7")
    assert listed.user_id == "7"
    session.flush()
    assert from_url(store_url).sessions_for_sync("7") == []


def test_a_concurrent_logout_is_not_undone(store_url: str) -> None:
    from django.contrib.sessions.backends.base import UpdateError

    from sessionary.integrations.django import SessionStore

    first = SessionStore()
    first["a"] = 1
    first.save()
    key = first.session_key
    busy, logout = SessionStore(key), SessionStore(key)
    assert busy["a"] == 1
    logout.flush()
    busy["b"] = 2
    with pytest.raises(UpdateError):  # Django's middleware answers SessionInterrupted
        busy.save()
    assert not first.exists(key)


def test_a_dead_key_is_never_adopted(client: Client) -> None:
    client.cookies["sessionid"] = "a" * 32
    client.get("/")
    assert key_of(client) != "a" * 32


def test_missing_store_setting_is_a_clear_error() -> None:
    from sessionary.integrations.django import SessionStore

    with (
        override_settings(SESSIONARY=None, SESSIONARY_STORE_URL=None),
        pytest.raises(ConfigurationError, match="SESSIONARY"),
    ):
        SessionStore()


def starlette_client(store_url: str) -> TestClient:
    app = load_example("starlette_app").create_app(
        SessionConfig(store=store_url, secret_key=SECRET)
    )
    return TestClient(app)


def test_django_session_is_read_by_starlette(client: Client, store_url: str) -> None:
    client.post("/name", {"name": "Ada"})  # no redirect followed: the message waits
    with starlette_client(store_url) as asgi:
        asgi.cookies.set("sessionid", key_of(client))
        assert asgi.get("/state").json() == {"name": "Ada"}
        page = asgi.get("/")
        # Django's flash message, shown by the Starlette template.
        assert message_items(page.text) == ['class="success">Hello, Ada!']
        assert "Hello Ada, visit 1." in page.text
    # ...and what Starlette wrote is read back by Django.
    assert client.get("/state").json() == {"name": "Ada", "visits": 1}


def test_starlette_session_is_read_by_django(client: Client, store_url: str) -> None:
    with starlette_client(store_url) as asgi:
        asgi.post("/name", data={"name": "Grace"}, follow_redirects=False)
        client.cookies["sessionid"] = asgi.cookies["sessionid"]
    response = client.get("/")
    assert message_items(response.content.decode()) == ['class="success">Hello, Grace!']
    assert "Hello Grace" in response.content.decode()


async def test_async_session_api(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()  # the async API runs on the store's async path
    await session.aset("a", [1])
    await session.asave()
    key = session.session_key
    assert key is not None
    again = SessionStore(key)
    assert await again.aget("a") == [1]
    assert await again.aexists(key)
    await again.acycle_key()
    await again.asave()
    assert not await again.aexists(key)
    await again.aflush()
    assert again.session_key is None
    await SessionStore.aclear_expired()
    from sessionary.integrations.django import get_config

    await get_config().store.aclose()


# -- Django's SessionBase, in full ---------------------------------------------------


def test_pop_takes_default_as_a_keyword(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["a"] = 1
    assert session.pop("missing", default="fallback") == "fallback"
    assert session.pop("a", default=None) == 1
    with pytest.raises(KeyError):
        session.pop("a")


def test_encode_and_decode_use_djangos_serializer(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    data = {"a": [1, 2], "b": "x"}
    assert session.decode(session.encode(data)) == data


def test_a_corrupted_encoding_is_logged_to_django_security(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from sessionary.integrations.django import SessionStore

    with caplog.at_level("WARNING", logger="django.security.SuspiciousSession"):
        assert SessionStore().decode("bad:encoded:value") == {}
    assert "Session data corrupted" in caplog.text


def test_load_returns_the_stored_data_not_unsaved_changes(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["saved"] = 1
    session.save()
    session["unsaved"] = 2
    assert session.load() == {"saved": 1}
    assert SessionStore().load() == {}


def test_cycle_key_deletes_the_old_record_at_once(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["a"] = 1
    session.save()
    old = session.session_key
    session.cycle_key()  # no save() after it
    assert not session.exists(old)
    assert SessionStore(session.session_key)["a"] == 1


def test_expiry_dates_are_naive_local_times_without_use_tz(store_url: str) -> None:
    import datetime as dt

    from django.utils import timezone

    from sessionary.integrations.django import SessionStore

    with override_settings(USE_TZ=False, TIME_ZONE="America/Chicago"):
        session = SessionStore()
        modification = timezone.now()
        assert timezone.is_naive(modification)
        ten = dt.timedelta(seconds=10)
        session.set_expiry(modification + ten)
        assert session.get_expiry_date(modification=modification) == modification + ten
        assert session.get_expiry_age(modification=modification) == 10
        session.set_expiry(60)
        later = session.get_expiry_date(modification=modification)
        assert later == modification + dt.timedelta(seconds=60)


def test_expiry_arguments_follow_django(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    assert session.get_expiry_age(expiry=None) == settings.SESSION_COOKIE_AGE
    assert session.get_expiry_age(expiry=30) == 30


def test_settings_changed_by_override_settings_are_seen(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    with override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=True):
        assert session.get_expire_at_browser_close()
    with override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=False):
        assert not session.get_expire_at_browser_close()
    with override_settings(SESSION_COOKIE_AGE=123):
        assert session.get_expiry_age() == 123


@pytest.mark.parametrize(
    ("setting", "value", "attribute", "expected"),
    [
        ("SESSION_COOKIE_SECURE", True, "secure", True),
        ("SESSION_COOKIE_HTTPONLY", False, "httponly", ""),
        ("SESSION_COOKIE_SAMESITE", "Strict", "samesite", "Strict"),
        ("SESSION_COOKIE_DOMAIN", ".example.com", "domain", ".example.com"),
        ("SESSION_COOKIE_PATH", "/shop", "path", "/shop"),
        ("SESSION_COOKIE_AGE", 600, "max-age", 600),
    ],
)
def test_django_cookie_settings_shape_the_cookie(
    store_url: str, setting: str, value: object, attribute: str, expected: object
) -> None:
    with override_settings(**{setting: value}):
        response = Client().post("/name", {"name": "Ada"})
    assert response.cookies["sessionid"][attribute] == expected


def test_django_cookie_name_setting_names_the_cookie(store_url: str) -> None:
    with override_settings(SESSION_COOKIE_NAME="shop_session"):
        response = Client().post("/name", {"name": "Ada"})
    assert "shop_session" in response.cookies
    assert "sessionid" not in response.cookies


def test_async_api_works_from_one_event_loop_after_another(store_url: str) -> None:
    from asgiref.sync import async_to_sync

    from sessionary.integrations.django import SessionStore

    # async_to_sync runs each call on a new event loop, as Django does for
    # async code under WSGI; nothing may stay bound to the first loop.
    session = SessionStore()
    async_to_sync(session.aset)("a", 1)
    async_to_sync(session.asave)()
    again = SessionStore(session.session_key)
    assert async_to_sync(again.aget)("a") == 1
    async_to_sync(again.acycle_key)()
    assert not async_to_sync(again.aexists)(session.session_key)


def test_clearsessions_command_clears_expired_records(store_url: str) -> None:
    import datetime as dt

    from django.contrib.sessions.management.commands.clearsessions import Command
    from django.core.management import call_command
    from django.utils import timezone

    from sessionary.integrations.django import SessionStore

    expired, live = SessionStore(), SessionStore()
    expired["a"] = live["a"] = 1
    expired.set_expiry(timezone.now() - dt.timedelta(seconds=1))
    expired.save()
    live.save()
    call_command(Command())  # manage.py clearsessions
    assert not expired.exists(expired.session_key)
    assert live.exists(live.session_key)


def test_a_store_outage_answers_503_not_500(tmp_path: Path) -> None:
    # A store whose table was never created: every load fails.
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    with override_settings(SESSIONARY={"store": missing, "secret_key": SECRET}):
        client = Client(raise_request_exception=False)
        client.cookies["sessionid"] = "a" * 32
        response = client.get("/state")
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert "sessionid" not in response.cookies


# -- a real outage: PostgreSQL behind a proxy the test cuts --------------------------

_proxies: list[TcpProxy] = []


def _outage_read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.session.get("n")))


def _outage_write_then_cut(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    _proxies[-1].cut()  # the server dies before the response saves the session
    return HttpResponse("written")


urlpatterns = [
    path("read", _outage_read),
    path("write-then-cut", _outage_write_then_cut),
]


@pytest.fixture
def pg_behind_proxy() -> Iterator[TcpProxy]:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    proxy = TcpProxy(5432)
    _proxies.append(proxy)
    table = f"sessionary_django_outage_{uuid.uuid4().hex[:10]}"
    store = DatabaseStore(
        f"postgresql://postgres@127.0.0.1:{proxy.port}/test", table=table, connect_timeout=2
    )
    store.migrate_sync()
    with override_settings(SESSIONARY={"store": store}, ROOT_URLCONF=__name__):
        yield proxy
    store.close()
    _proxies.remove(proxy)
    proxy.close()
    direct = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with direct.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    direct.dispose()


def test_django_answers_503_while_postgresql_is_down_and_recovers(
    pg_behind_proxy: TcpProxy,
) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["n"] = 1
    session.save()
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = str(session.session_key)
    pg_behind_proxy.cut()
    down = client.get("/read")
    assert down.status_code == 503
    assert "sessionid" not in down.cookies
    pg_behind_proxy.restore()
    assert client.get("/read").content == b"1"  # nothing committed was lost


def test_django_answers_503_when_postgresql_dies_before_the_save(
    pg_behind_proxy: TcpProxy,
) -> None:
    from sessionary.integrations.django import SessionStore

    session = SessionStore()
    session["n"] = 1
    session.save()
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = str(session.session_key)
    response = client.get("/write-then-cut")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    pg_behind_proxy.restore()
    assert SessionStore(session.session_key)["n"] == 1  # the failed save left no trace
