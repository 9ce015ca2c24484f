"""A Redis Cluster with no reachable node is an outage (503), not a 500."""

from __future__ import annotations

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware, StoreUnavailable, WSGISessionMiddleware
from sessionary._keys import new_key
from sessionary.stores import from_url

from .apps import asgi_app, wsgi_app

UNREACHABLE = "redis+cluster://127.0.0.1:1?timeout=1"


async def test_an_unreachable_cluster_is_store_unavailable_on_both_colours() -> None:
    store = from_url(UNREACHABLE)
    with pytest.raises(StoreUnavailable, match="redis cluster unavailable"):
        store.load_sync(new_key())
    with pytest.raises(StoreUnavailable, match="redis cluster unavailable"):
        await store.load(new_key())


async def test_an_unreachable_cluster_answers_503_on_asgi_and_wsgi() -> None:
    config = SessionConfig(store=UNREACHABLE)
    cookie = {"cookie": f"sessionid={new_key()}"}
    asgi = SessionMiddleware(asgi_app, config=config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(asgi), base_url="http://t") as c:
        assert (await c.get("/get?a=", headers=cookie)).status_code == 503
    wsgi = WSGISessionMiddleware(wsgi_app, config)
    with httpx.Client(transport=httpx.WSGITransport(wsgi), base_url="http://t") as c:
        assert c.get("/get?a=", headers=cookie).status_code == 503
