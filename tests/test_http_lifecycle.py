"""SPEC section 1 over HTTP, through the ASGI and the WSGI middleware, on every store."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionary import SessionConfig, WSGISessionMiddleware
from sessionary._keys import hash_key
from sessionary.stores.base import Store
from sessionary.stores.memory import MemoryStore

from .apps import AppCrashed
from .conftest import Client, FakeClock

KEY_RE = re.compile(r"sessionid=([a-z0-9]{32});")


def session_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("sessionid="):
            return header
    return None


async def test_untouched_session_sets_no_cookie(make_client: Callable[..., Client]) -> None:
    response = await make_client().get("/noop")
    assert session_cookie(response) is None
    assert "vary" not in response.headers


async def test_reading_adds_vary_but_no_cookie(make_client: Callable[..., Client]) -> None:
    response = await make_client().get("/get?x=")
    assert session_cookie(response) is None
    assert response.headers["vary"] == "Cookie"


async def test_write_sets_cookie_with_configured_attributes(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    response = await make_client().get("/set?a=1")
    cookie = session_cookie(response)
    assert cookie is not None
    assert KEY_RE.match(cookie)
    # Spelled as Starlette's middleware spells it (attribute names are
    # case-insensitive; tests written for Starlette match this spelling).
    assert "; path=/; Max-Age=1209600; expires=" in cookie
    assert cookie.endswith("; httponly; samesite=Lax")
    assert "secure" not in cookie
    assert "domain" not in cookie


async def test_custom_cookie_attributes(make_client: Callable[..., Client]) -> None:
    client = make_client(
        cookie_name="sid",
        cookie_age=600,
        cookie_domain="example.com",
        cookie_path="/app",
        cookie_secure=True,
        cookie_samesite="Strict",
    )
    response = await client.get("/set?a=1")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("sid=")
    for part in ("Max-Age=600", "domain=example.com", "path=/app", "secure", "samesite=Strict"):
        assert f"; {part}" in cookie


async def test_session_round_trips(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1&b=two")
    response = await client.get("/get?a=&b=&c=")
    assert response.json() == {"a": "1", "b": "two", "c": None}


async def test_read_only_request_does_not_resend_cookie(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1")
    response = await client.get("/get?a=")
    assert session_cookie(response) is None


async def test_save_every_request_resends_cookie(make_client: Callable[..., Client]) -> None:
    client = make_client(save_every_request=True)
    await client.get("/set?a=1")
    response = await client.get("/noop")
    assert session_cookie(response) is not None


async def test_browser_close_cookie_has_no_max_age(make_client: Callable[..., Client]) -> None:
    response = await make_client(expire_at_browser_close=True).get("/set?a=1")
    cookie = session_cookie(response)
    assert cookie is not None
    assert "Max-Age" not in cookie
    assert "expires" not in cookie


async def test_set_expiry_zero_gives_browser_close_cookie(
    make_client: Callable[..., Client],
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    cookie = session_cookie(await client.get("/expiry?v=0"))
    assert cookie is not None
    assert "Max-Age" not in cookie


async def test_set_expiry_seconds_sets_max_age(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1")
    cookie = session_cookie(await client.get("/expiry?v=300"))
    assert cookie is not None
    assert "Max-Age=300" in cookie


async def test_flush_deletes_cookie_and_record(
    make_client: Callable[..., Client], store: Store
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    key = client.cookies["sessionid"]
    assert await store.exists(key)
    response = await client.get("/flush")
    cookie = session_cookie(response)
    assert cookie is not None
    assert "Max-Age=0" in cookie
    assert not await store.exists(key)
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_clear_keeps_key_and_resends_cookie(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1")
    key = client.cookies["sessionid"]
    response = await client.get("/clear")
    assert f"sessionid={key};" in (session_cookie(response) or "")
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_deleting_last_key_keeps_the_session(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1")
    key = client.cookies["sessionid"]
    response = await client.get("/del?a=")
    assert f"sessionid={key};" in (session_cookie(response) or "")


async def test_cycle_key_moves_data_and_kills_old_key(
    make_client: Callable[..., Client], store: Store, clock: FakeClock
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    old = client.cookies["sessionid"]
    await client.get("/cycle")
    new = client.cookies["sessionid"]
    assert new != old
    assert (await client.get("/get?a=")).json() == {"a": "1"}
    clock.advance(SessionConfig(store=store).rotation_grace)  # past the grace window
    replay = make_client()
    replay.cookies["sessionid"] = old
    assert (await replay.get("/get?a=")).json() == {"a": None}


async def test_without_a_grace_window_cycle_key_deletes_the_old_record(
    make_client: Callable[..., Client], store: Store
) -> None:
    client = make_client(rotation_grace=0)
    await client.get("/set?a=1")
    old = client.cookies["sessionid"]
    await client.get("/cycle")
    assert not await store.exists(old)
    replay = make_client(rotation_grace=0)
    replay.cookies["sessionid"] = old
    assert (await replay.get("/get?a=")).json() == {"a": None}


async def test_planted_unknown_key_is_replaced(make_client: Callable[..., Client]) -> None:
    client = make_client()
    planted = "a" * 32
    client.cookies["sessionid"] = planted
    response = await client.get("/set?a=1")
    cookie = session_cookie(response)
    assert cookie is not None
    assert planted not in cookie
    assert KEY_RE.match(cookie)


async def test_dead_key_cookie_is_deleted(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.cookies["sessionid"] = "b" * 32
    cookie = session_cookie(await client.get("/noop"))
    assert cookie is not None
    assert "Max-Age=0" in cookie


async def test_malformed_cookie_is_a_fresh_session(make_client: Callable[..., Client]) -> None:
    client = make_client()
    response = await client.get("/get?a=", headers={"cookie": 'sessionid="\\x00;;=;  ; junk'})
    assert response.status_code == 200
    assert response.json() == {"a": None}


async def test_expired_session_is_not_loaded(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(cookie_age=60)
    await client.get("/set?a=1")
    clock.advance(61)
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_nested_mutation_is_saved(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/append?item=x")
    await client.get("/append?item=y")
    assert (await client.get("/get?cart=")).json() == {"cart": ["x", "y"]}


async def test_no_save_on_server_error(make_client: Callable[..., Client]) -> None:
    client = make_client()
    response = await client.get("/boom")
    assert response.status_code == 500
    assert session_cookie(response) is None


async def test_store_keeps_only_hashed_keys(
    make_client: Callable[..., Client], store: Store
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    key = client.cookies["sessionid"]
    record = await store.load(key)
    assert record is not None
    assert record.key_hash == hash_key(key)
    assert key not in repr(record)


async def test_partitioned_and_priority_attributes(make_client: Callable[..., Client]) -> None:
    client = make_client(cookie_secure=True, cookie_partitioned=True, cookie_priority="high")
    cookie = session_cookie(await client.get("/set?a=1"))
    assert cookie is not None
    assert "; partitioned" in cookie
    assert "; priority=High" in cookie


async def test_a_crash_after_flush_still_ends_the_old_record(
    make_client: Callable[..., Client], store: Store
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    old = client.cookies["sessionid"]
    with pytest.raises(AppCrashed):
        await client.get("/crash?do=flush")
    assert await store.load(old) is None
    # The visitor still holds the old cookie (no response carried the
    # deletion), but it opens nothing.
    assert (await client.get("/get?a=&crashed=")).json() == {"a": None, "crashed": None}


async def test_a_crash_after_cycle_key_ends_the_old_record_and_saves_nothing_new(
    make_client: Callable[..., Client], store: Store
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    old = client.cookies["sessionid"]
    with pytest.raises(AppCrashed):
        await client.get("/crash?do=cycle")
    assert await store.load(old) is None
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_a_crash_saves_none_of_the_requests_other_changes(
    make_client: Callable[..., Client], store: Store
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    with pytest.raises(AppCrashed):
        await client.get("/crash?do=nothing")
    record = await store.load(client.cookies["sessionid"])
    assert record is not None
    assert "crashed" not in record.data
    assert (await client.get("/get?a=&crashed=")).json() == {"a": "1", "crashed": None}


def lazy_app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
    """A WSGI generator: nothing runs, start_response included, until iterated."""
    session = environ["sessionary.session"]
    if environ["PATH_INFO"] == "/crash-lazily":
        session.flush()
        raise AppCrashed("lazily")
    session["lazy"] = "yes"
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"app body"


def test_a_lazy_wsgi_app_that_crashes_after_flush_still_ends_the_old_record() -> None:
    store = MemoryStore()
    middleware = WSGISessionMiddleware(lazy_app, SessionConfig(store=store))
    with httpx.Client(transport=httpx.WSGITransport(middleware), base_url="http://t") as client:
        cookie = client.get("/write").headers["set-cookie"]
        key = cookie.split(";", 1)[0].split("=", 1)[1]
        assert store.load_sync(key) is not None
        with pytest.raises(AppCrashed):
            client.get("/crash-lazily", headers={"cookie": f"sessionid={key}"})
    assert store.load_sync(key) is None


def test_a_lazy_wsgi_app_gets_the_503_when_the_save_fails(tmp_path: Path) -> None:
    # A SQLite store whose table was never created: the save fails for real.
    config = SessionConfig(store=f"sqlite:///{tmp_path / 'unmigrated.db'}")
    middleware = WSGISessionMiddleware(lazy_app, config)
    with httpx.Client(transport=httpx.WSGITransport(middleware), base_url="http://t") as client:
        response = client.get("/write")
    config.store.close()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.content == b"Service Unavailable: the session store did not answer."
