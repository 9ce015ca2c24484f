"""The request path's shortcuts give what the long way gives."""

from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionary import SessionConfig, SessionMiddleware, WSGISessionMiddleware, _core

from .apps import asgi_app, wsgi_app


@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31T23:59:59Z
def test_cookie_expiry_dates_are_spelled_as_email_utils_spells_them(second: int) -> None:
    config = SessionConfig(store="memory://")
    cookie = _core.session_cookie(config, "k", 60, float(second) + 0.25)
    assert f"expires={formatdate(second, usegmt=True)};" in cookie


# Nothing listens on port 1: every operation on this store fails, at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"


def dead_store_app(kind: str, **options: Any) -> httpx.AsyncBaseTransport | httpx.BaseTransport:
    config = SessionConfig(store=DEAD_REDIS, **options)
    if kind == "asgi":
        return httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    return httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))


async def get(kind: str, path: str, **options: Any) -> httpx.Response:
    transport = dead_store_app(kind, **options)
    if isinstance(transport, httpx.ASGITransport):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)
    assert isinstance(transport, httpx.WSGITransport)
    with httpx.Client(transport=transport, base_url="http://t") as sync_client:
        # WSGI is blocking: off the event loop, as a server's worker thread runs it.
        return await asyncio.to_thread(sync_client.get, path)


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_a_request_that_brings_no_session_and_leaves_it_alone_never_reaches_the_store(
    kind: str,
) -> None:
    response = await get(kind, "/noop")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "vary" not in response.headers


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_a_request_that_writes_its_new_session_still_commits_it(kind: str) -> None:
    # The same dead store: the write reaches it, and the outage is answered.
    response = await get(kind, "/set?a=1")
    assert response.status_code == 503


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_the_url_transport_still_marks_untouched_responses_no_referrer(kind: str) -> None:
    response = await get(kind, "/noop", transport="url")
    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
