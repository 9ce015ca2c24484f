"""Hostile input, generated: Cookie headers and session payloads thrown at both
middlewares. Nothing may answer 500 or more, and accepted values must round-trip.

The number of generated inputs per test comes from ``SESSIONARY_FUZZ_EXAMPLES``
(CI sets it so the tests together generate well over 100,000).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionary import Session, SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary.stores.cookie import CookieStore
from sessionary.stores.memory import MemoryStore

from .conftest import SECRET

EXAMPLES = int(os.environ.get("SESSIONARY_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Not traced for coverage: tracing every generated input more than doubles these
# tests' time (CI runs 20,000 inputs each), and they reach nothing the rest of
# the suite leaves uncovered.
pytestmark = pytest.mark.no_cover
COUNTS: dict[str, int] = {}


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


store = MemoryStore()
config = SessionConfig(store=store, secret_key=SECRET)


def seed_key() -> str:
    s = Session(config)
    s["seed"] = 1
    s.save_sync()
    assert s.session_key is not None
    return s.session_key


LIVE_KEY = seed_key()

cookie_names = st.sampled_from(["sessionid", "sessionid ", "SESSIONID", "other", "", "a b"])
cookie_values = st.one_of(
    st.just(LIVE_KEY),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=30, max_size=34),
    st.text(max_size=80),
    st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
)
equals = st.sampled_from(["=", "", "==", " = "])
separators = st.sampled_from([";", "; ", ";;", " ;", ",", "\t;"])
# Up to eight "name=value;" pieces, each drawn as one tuple and joined at the end:
# the same headers as a join per piece, in about a quarter fewer hypothesis calls.
cookie_headers = st.lists(
    st.tuples(cookie_names, equals, cookie_values, separators), min_size=0, max_size=8
).map(lambda pieces: "".join("".join(piece) for piece in pieces))
raw_headers = st.one_of(
    cookie_headers.map(lambda h: h.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    st.just(b"sessionid=" + b"x" * 8192),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities must be refused, not stored
    st.text(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.binary(max_size=8),  # not JSON: refused with TypeError
)
payload_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.frozensets(st.integers(), max_size=3),  # not JSON
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=12), payload_values, max_size=5)


def _plain(value: Any) -> bool:
    """Whether ``value`` is something the session must accept."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, bytes | frozenset):
        return False
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    return True


def _app_writes(session: Session, payload: dict[str, Any]) -> int:
    session.clear()  # each payload replaces the last: the shared session stays small
    status = 200
    for name, value in payload.items():
        try:
            session[name] = value
        except TypeError:
            assert not _plain(value), f"{value!r} was refused"
            status = 400
        else:
            assert _plain(value), f"{value!r} was accepted"
    return status


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def asgi_call(
    loop: asyncio.AbstractEventLoop,
    cookie: bytes,
    payload: dict[str, Any],
    cfg: SessionConfig = config,
) -> int:
    status = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        code = _app_writes(scope["session"], payload)
        await send({"type": "http.response.start", "status": code, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"cookie", cookie), (b"cookie", cookie[:20])],
        "query_string": b"",
        "client": ("127.0.0.1", 1234),
    }
    loop.run_until_complete(SessionMiddleware(app, cfg)(scope, receive, send))
    return status


def wsgi_call(cookie: bytes, payload: dict[str, Any], cfg: SessionConfig = config) -> int:
    statuses: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        code = _app_writes(environ["sessionary.session"], payload)
        start_response(f"{code} X", [])
        return [b""]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(int(status[:3]))
        return lambda data: None

    environ = {"HTTP_COOKIE": cookie.decode("latin-1"), "REMOTE_ADDR": "127.0.0.1"}
    body = WSGISessionMiddleware(app, cfg)(environ, start_response)
    list(body)
    return statuses[0]


@FUZZ
@given(cookie=raw_headers)
def test_asgi_never_fails_on_cookie_headers(loop: asyncio.AbstractEventLoop, cookie: bytes) -> None:
    count("asgi cookie headers")
    assert asgi_call(loop, cookie, {"k": 1}) < 500


@FUZZ
@given(cookie=raw_headers)
def test_wsgi_never_fails_on_cookie_headers(cookie: bytes) -> None:
    count("wsgi cookie headers")
    assert wsgi_call(cookie, {"k": 1}) < 500


@FUZZ
@given(payload=payloads)
def test_asgi_never_fails_on_payloads(
    loop: asyncio.AbstractEventLoop, payload: dict[str, Any]
) -> None:
    count("asgi payloads")
    assert asgi_call(loop, f"sessionid={LIVE_KEY}".encode(), payload) < 500


@FUZZ
@given(payload=payloads)
def test_wsgi_never_fails_on_payloads(payload: dict[str, Any]) -> None:
    count("wsgi payloads")
    assert wsgi_call(f"sessionid={LIVE_KEY}".encode(), payload) < 500


@FUZZ
@given(payload=payloads)
def test_accepted_values_round_trip(payload: dict[str, Any]) -> None:
    count("round trips")
    s = Session(config)
    accepted = {}
    for name, value in payload.items():
        try:
            s[name] = value
        except TypeError:
            continue
        accepted[name] = value
    s.save_sync()
    again = Session(config, s.session_key)
    again.load_sync()
    assert _normalise(dict(again.items())) == _normalise(accepted)


def _normalise(value: Any) -> Any:
    # JSON has no tuples; -0.0 == 0.0 already.
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return value


cookie_config = SessionConfig(store=CookieStore(), secret_key=SECRET)
_sealed = Session(cookie_config)
_sealed["seed"] = 1
_sealed.save_sync()
SEALED = _sealed.carried or ""
sealed_headers = st.one_of(
    raw_headers,
    st.just(f"sessionid={SEALED}".encode()),
    st.tuples(st.integers(0, len(SEALED)), st.binary(max_size=4)).map(
        lambda cut: f"sessionid={SEALED[: cut[0]]}".encode() + cut[1]
    ),
)


@FUZZ
@given(cookie=sealed_headers)
def test_cookie_store_never_fails_on_cookie_headers(
    loop: asyncio.AbstractEventLoop, cookie: bytes
) -> None:
    count("cookie-store headers")
    assert asgi_call(loop, cookie, {"k": 1}, cookie_config) < 500
    assert wsgi_call(cookie, {"k": 1}, cookie_config) < 500
