"""Session transports: cookies (default), a header for API clients, the URL (opt-in)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sessionary import Session, SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary.stores.memory import MemoryStore
from sessionary.transport import url_for_session

from .apps import asgi_app, wsgi_app
from .conftest import FakeClock

Send = Callable[..., Any]


@pytest.fixture(params=["asgi", "wsgi"])
def send(request: pytest.FixtureRequest, clock: FakeClock) -> Send:
    """``send(path, headers=None, base="http://t", **config)`` through one middleware."""
    store = MemoryStore(clock=clock)

    async def call(path: str, headers: dict[str, str] | None = None, base: str = "http://t",
                   **options: Any) -> httpx.Response:  # fmt: skip
        config = SessionConfig(store=store, **options)
        if request.param == "asgi":
            transport: Any = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
            async with httpx.AsyncClient(transport=transport, base_url=base) as c:
                return await c.get(path, headers=headers or {})
        wsgi = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))
        with httpx.Client(transport=wsgi, base_url=base) as c:
            return c.get(path, headers=headers or {})

    return call


async def test_header_transport_creates_reads_cycles_and_flushes(send: Send) -> None:
    opts = {"transport": "header"}
    created = await send("/set?a=1", **opts)
    assert "set-cookie" not in created.headers
    token = created.headers["x-session-token"]
    assert len(token) == 32
    auth = {"X-Session-Token": token}
    read = await send("/get?a=", auth, **opts)
    assert read.json() == {"a": "1"}
    assert "x-session-token" not in read.headers  # unchanged key: nothing to send
    assert read.headers["vary"] == "X-Session-Token"
    cycled = (await send("/cycle", auth, **opts)).headers["x-session-token"]
    assert cycled != token
    # Within the grace window the old token is answered with the new one.
    stale = await send("/get?a=", {"X-Session-Token": token}, **opts)
    assert stale.json() == {"a": "1"}
    assert stale.headers["x-session-token"] == cycled
    flushed = await send("/flush", {"X-Session-Token": cycled}, **opts)
    assert flushed.headers["x-session-token"] == ""
    assert (await send("/get?a=", {"X-Session-Token": cycled}, **opts)).json() == {"a": None}


async def test_header_key_naming_no_record_is_not_adopted(send: Send) -> None:
    planted = "p" * 32
    response = await send("/set?a=1", {"X-Session-Token": planted}, transport="header")
    assert response.headers["x-session-token"] not in (planted, "")


async def test_url_transport_over_https(send: Send) -> None:
    opts = {"transport": "url", "base": "https://t"}
    created = await send("/set?a=1", **opts)
    assert "set-cookie" not in created.headers
    assert created.headers["referrer-policy"] == "no-referrer"
    key = created.headers["x-session-token"]
    assert (await send(f"/get?a=&sid={key}", **opts)).json() == {"a": "1"}
    cycled = (await send(f"/cycle?sid={key}", **opts)).headers["x-session-token"]
    stale = await send(f"/get?a=&sid={key}", **opts)  # within the grace window
    assert (stale.json(), stale.headers["x-session-token"]) == ({"a": "1"}, cycled)
    assert (await send(f"/get?a=&sid={cycled}", **opts)).json() == {"a": "1"}
    flushed = await send(f"/flush?sid={cycled}", **opts)
    assert flushed.headers["x-session-token"] == ""
    planted = await send(f"/set?a=2&sid={'q' * 32}", **opts)
    assert planted.headers["x-session-token"] != "q" * 32


async def test_url_key_is_refused_over_plain_http(
    send: Send, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sessionary.security")
    key = (await send("/set?a=1", transport="url", base="https://t")).headers["x-session-token"]
    plain = await send(f"/get?a=&sid={key}", transport="url")
    assert plain.json() == {"a": None}
    assert "plain-HTTP" in caplog.text
    allowed = await send(f"/get?a=&sid={key}", transport="url", url_allow_insecure=True)
    assert allowed.json() == {"a": "1"}


async def test_url_and_cookie_together_use_the_cookie(
    send: Send, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sessionary.security")
    opts = {"transport": "url", "base": "https://t"}
    one = (await send("/set?a=1", **opts)).headers["x-session-token"]
    two = (await send("/set?a=2", **opts)).headers["x-session-token"]
    both = await send(f"/get?a=&sid={two}", {"cookie": f"sessionid={one}"}, **opts)
    assert both.json() == {"a": "1"}
    assert "using the cookie" in caplog.text


def test_url_for_session_adds_and_removes_the_key(clock: FakeClock) -> None:
    config = SessionConfig(store=MemoryStore(clock=clock), transport="url")
    s = Session(config)
    s.cycle_key()
    key = s.session_key
    assert url_for_session("/cart?page=2&sid=old", s) == f"/cart?page=2&sid={key}"
    s.flush()
    assert url_for_session(f"https://x/cart?sid={key}", s) == "https://x/cart"
