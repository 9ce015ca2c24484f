"""Arbitrary ``Cookie`` headers, thrown at both middlewares over a server-side
and a client-side store, never produce a 500 (or an exception)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sessionary import SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary.stores.cookie import CookieStore
from sessionary.stores.memory import MemoryStore

from .apps import asgi_app, wsgi_app
from .conftest import SECRET

CONFIGS = [
    SessionConfig(store=MemoryStore(), secret_key=SECRET),
    SessionConfig(store=CookieStore(), secret_key=SECRET),
    SessionConfig(store=CookieStore(mode="signed"), secret_key=SECRET),
]

_pieces = st.one_of(
    st.binary(max_size=80),
    st.text(max_size=80).map(lambda t: t.encode("utf-8")),
    st.sampled_from(
        [b"sessionid=", b";", b"=", b'"', b" ", b"sessionid", b"\xff", b"\x00", b":", b"\xc3\xa9"]
    ),
    st.from_regex(rb"[A-Za-z0-9_\-.:]{0,200}", fullmatch=True).map(lambda v: b"sessionid=" + v),
)
headers = st.lists(st.lists(_pieces, max_size=6).map(b"".join), min_size=1, max_size=3)
paths = st.sampled_from(["/all", "/set", "/flush", "/cycle", "/key"])


async def _asgi_status(config: SessionConfig, cookies: list[bytes], path: str) -> int:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"k=v",
        "headers": [(b"cookie", c) for c in cookies],
        "client": ("127.0.0.1", 1),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await SessionMiddleware(asgi_app, config)(scope, receive, send)
    return int(sent[0]["status"])


def _wsgi_status(config: SessionConfig, cookies: list[bytes], path: str) -> int:
    seen: list[str] = []
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "k=v",
        # PEP 3333: the server joins the headers and decodes them as latin-1.
        "HTTP_COOKIE": "; ".join(c.decode("latin-1") for c in cookies),
        "wsgi.version": (1, 0),
    }

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        seen.append(status)
        return lambda data: None

    body = WSGISessionMiddleware(wsgi_app, config)(environ, start_response)
    b"".join(body)
    return int(seen[0][:3])


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cookies=headers, path=paths, which=st.sampled_from(range(len(CONFIGS))))
@example(cookies=[b"sessionid=a:\xc3\xa9"], path="/all", which=2)  # non-ASCII signature
def test_arbitrary_cookie_headers_never_fail(
    kind: str, cookies: list[bytes], path: str, which: int
) -> None:
    config = CONFIGS[which]
    if kind == "asgi":
        status = asyncio.run(_asgi_status(config, cookies, path))
    else:
        status = _wsgi_status(config, cookies, path)
    assert status == 200


@settings(max_examples=100, deadline=None)
@given(
    value=st.lists(st.sampled_from([":", ".", "é", "A", "\x00"]) | st.text(max_size=40)).map(
        "".join
    ),
    which=st.sampled_from([1, 2]),
)
def test_arbitrary_cookie_values_are_refused_quietly(value: str, which: int) -> None:
    assert CONFIGS[which].store.read_cookie(value) is None
