"""What a store cannot hold is refused where the app can catch it, never turned
into an outage at save: lone surrogates store everywhere, sessions of many
keys fit Redis's scripts, Memcached's item size is counted in bytes, and a
user id longer than the SQL column is refused at login."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from sessionary import (
    Session,
    SessionConfig,
    SessionMiddleware,
    SessionTooLarge,
    WSGISessionMiddleware,
    auth,
)
from sessionary._keys import new_key
from sessionary.exceptions import InvalidUserId, SessionDataError, StoreError
from sessionary.stores._memcached import ITEM_LIMIT
from sessionary.stores.base import Change, SessionRecord, Store
from sessionary.stores.cookie import CookieStore
from sessionary.stores.memcached import MemcachedStore

from .conftest import SECRET, FakeClock
from .store_registry import STORES

LONE = json.loads('"\\ud800"')
# Surrogates in every place a value can hold them: alone, unpaired at the end,
# reversed, and as a dict key.
NESTED = {json.loads('"\\udc00"'): [json.loads('"x\\ud83d"'), json.loads('"\\ude00\\ud83d"')]}


def act(session: Session, path: str, query: dict[str, str]) -> tuple[int, Any]:
    if path == "/lone":
        session["lone"] = LONE
        session["nested"] = NESTED
    elif path == "/lone-name":
        session[LONE] = "named"
        session["x" + LONE] = LONE
    elif path == "/read":
        return 200, {
            "lone": session.get("lone") == LONE,
            "nested": session.get("nested") == NESTED,
        }
    elif path == "/read-name":
        return 200, [session.get(LONE), session.get("x" + LONE) == LONE]
    elif path == "/login":
        try:
            auth.login(session, query["u"])
        except InvalidUserId as exc:
            return 400, str(exc)
    elif path == "/whoami":
        return 200, auth.get_user_id(session)
    return 200, {"key": session.session_key}


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    query = dict(parse_qsl(scope["query_string"].decode()))
    status, body = act(scope["session"], scope["path"], query)
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    status, body = act(environ["sessionary.session"], environ["PATH_INFO"], query)
    start_response(f"{status} X", [])
    return [json.dumps(body).encode()]


Get = Callable[..., Any]


def visitor(store: Store, kind: str) -> Get:
    """A visitor of the app through one middleware, keeping its cookie."""
    config = SessionConfig(store=store, secret_key=SECRET)
    jar: dict[str, str] = {}

    async def get(path: str) -> httpx.Response:
        headers = {"cookie": f"sessionid={jar['sessionid']}"} if "sessionid" in jar else {}
        if kind == "asgi":
            transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                response = await c.get(path, headers=headers)
        else:
            wsgi = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))
            with httpx.Client(transport=wsgi, base_url="http://t") as c:
                response = c.get(path, headers=headers)
        if "sessionid" in response.cookies:
            jar["sessionid"] = response.cookies["sessionid"]
        return response

    return get


# -- lone surrogates -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_lone_surrogates_are_accepted_and_round_trip_on_every_store(
    store: Store, kind: str
) -> None:
    get = visitor(store, kind)
    assert (await get("/lone")).status_code == 200
    assert (await get("/read")).json() == {"lone": True, "nested": True}


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@pytest.mark.parametrize("mode", ["encrypted", "signed"])
async def test_lone_surrogates_round_trip_in_the_cookie_store(
    clock: FakeClock, kind: str, mode: str
) -> None:
    get = visitor(CookieStore(mode, clock=clock), kind)  # type: ignore[arg-type]
    assert (await get("/lone")).status_code == 200
    assert (await get("/read")).json() == {"lone": True, "nested": True}


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_a_key_holding_a_lone_surrogate_round_trips_on_every_store(
    store: Store, kind: str
) -> None:
    get = visitor(store, kind)
    assert (await get("/lone-name")).status_code == 200
    assert (await get("/read-name")).json() == ["named", True]
    assert (await get("/lone")).status_code == 200  # a later change set, applied
    assert (await get("/read-name")).json() == ["named", True]


@pytest.mark.parametrize("mode", ["encrypted", "signed"])
async def test_a_key_holding_a_lone_surrogate_round_trips_in_the_cookie_store(
    clock: FakeClock, mode: str
) -> None:
    get = visitor(CookieStore(mode, clock=clock), "asgi")  # type: ignore[arg-type]
    assert (await get("/lone-name")).status_code == 200
    assert (await get("/read-name")).json() == ["named", True]


def test_assignment_encodes_a_lone_surrogate_as_ascii() -> None:
    session = Session(SessionConfig(store=CookieStore(), secret_key=SECRET))
    session["lone"] = LONE
    assert session.encoded_size() == len("lone") + len('"\\ud800"')


# -- many keys -------------------------------------------------------------------


async def test_a_session_of_5000_keys_saves_and_applies_on_every_store(
    store: Store, clock: FakeClock
) -> None:
    # Redis's scripts once unpacked every field at once: Lua stops near 8000 values.
    key = new_key()
    now = clock()
    data = {f"k{i}": str(i) for i in range(5000)}
    await store.save(key, SessionRecord("", data, now, now, now + 600, version=1))
    change = Change(
        set={f"n{i}": str(i) for i in range(5000)},
        delete=frozenset(f"k{i}" for i in range(4000)),
        last_seen=now,
        expires=now + 600,
    )
    updated = await store.apply(key, change)
    assert updated is not None
    loaded = await store.load(key)
    assert loaded is not None
    assert len(loaded.data) == 6000
    assert loaded.data["k4999"] == "4999"
    assert loaded.data["n4999"] == "4999"
    assert "k0" not in loaded.data


# -- Memcached's item size, in bytes -----------------------------------------------


@pytest.fixture(params=["memcached", "memcached-pair"])
async def memcached(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with STORES[request.param](tmp_path) as built:
        yield built


def test_memcached_declares_a_data_limit_below_its_item_size() -> None:
    limit = MemcachedStore.max_data_bytes
    assert limit is not None
    assert 2 * limit < ITEM_LIMIT


@pytest.mark.parametrize("character", ['"', "\\", "\n", "😀", "é"])
async def test_memcached_holds_a_session_at_its_limit_whatever_the_characters(
    memcached: Store, clock: FakeClock, character: str
) -> None:
    # The worst case: characters JSON escapes twice (as a value, then in the record).
    limit = MemcachedStore.max_data_bytes
    assert limit is not None
    # A store without a limit of its own: the session counts, memcached holds.
    session = Session(SessionConfig(store="memory://", max_session_bytes=2 * limit))
    session["v"] = ""
    unit = len(json.dumps(character))  # ASCII-escaped, as the session encodes it
    raw_empty = session.encoded_size()
    session["v"] = character * ((limit - raw_empty) // (unit - 2))
    assert limit - 12 < session.encoded_size() <= limit
    key, now = new_key(), clock()
    data = {"v": json.dumps(session["v"])}
    await memcached.save(key, SessionRecord("", data, now, now, now + 600, version=1))
    loaded = await memcached.load(key)
    assert loaded is not None
    assert json.loads(loaded.data["v"]) == session["v"]


async def test_memcached_refuses_an_item_over_its_size_as_a_data_error(
    memcached: Store, clock: FakeClock
) -> None:
    key, now = new_key(), clock()
    data = {"v": json.dumps("x" * ITEM_LIMIT)}
    with pytest.raises(SessionTooLarge) as caught:
        await memcached.save(key, SessionRecord("", data, now, now, now + 600, version=1))
    assert isinstance(caught.value, SessionDataError)
    assert not isinstance(caught.value, StoreError)  # not an outage: no 503
    assert await memcached.load(key) is None


def test_memcached_refuses_at_assignment_what_one_item_cannot_hold() -> None:
    session = Session(SessionConfig(store=MemcachedStore()))
    with pytest.raises(SessionTooLarge):
        session["quotes"] = '"' * 400_000  # 800 KB as the session counts it, 1.6 MB stored


# -- user ids the store cannot bind ---------------------------------------------------


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_login_refuses_a_user_id_longer_than_the_store_can_bind(
    store: Store, kind: str
) -> None:
    limit = store.max_user_id_length
    get = visitor(store, kind)
    await get("/lone")
    if limit is None:
        assert (await get("/login?u=" + "u" * 306)).status_code == 200
        assert (await get("/whoami")).json() == "u" * 306
        return
    refused = await get("/login?u=" + "u" * (limit + 1))
    assert refused.status_code == 400
    assert f"above the {limit}" in refused.json()
    assert (await get("/whoami")).json() is None
    assert (await get("/login?u=" + "u" * limit)).status_code == 200
    assert (await get("/whoami")).json() == "u" * limit
    assert [info.user_id for info in await store.sessions_for("u" * limit)] == ["u" * limit]


@pytest.mark.parametrize("user_id", ["a\x00b", LONE, "x" + LONE])
def test_login_refuses_a_user_id_no_store_can_bind(user_id: str) -> None:
    session = Session(SessionConfig(store=CookieStore(), secret_key=SECRET))
    session["a"] = 1
    with pytest.raises(InvalidUserId) as caught:
        auth.login(session, user_id)
    assert isinstance(caught.value, ValueError)
    assert session.user_id is None
    assert not session.modified or session["a"] == 1


def test_database_stores_bind_user_ids_up_to_the_column_size() -> None:
    from sessionary.stores import from_url

    assert from_url("sqlite:///:memory:").max_user_id_length == 255
    assert from_url("postgresql://h/db").max_user_id_length == 255
    assert from_url("cached+mysql://h/db?cache=memory://").max_user_id_length == 255
    assert from_url("memory://").max_user_id_length is None
