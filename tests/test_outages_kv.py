"""Redis and Memcached killed mid-request: 503, never a 500 or a dangling cookie;
back on the same port, the store reconnects without a restart."""

from __future__ import annotations

import uuid

import httpx

from sessionary import SessionConfig, SessionMiddleware
from sessionary.stores import from_url
from sessionary.stores.base import Store

from .faults import outage_app
from .servers import Killable, killable_memcached, killable_redis


async def _outage(store: Store, server: Killable, survives_restart: bool) -> None:
    config = SessionConfig(store=store)
    transport = httpx.ASGITransport(SessionMiddleware(outage_app(server.kill), config))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        key = (await c.get("/write")).cookies["sessionid"]
        cookie = {"cookie": f"sessionid={key}"}
        died = await c.get("/break-then-write", headers=cookie)
        assert died.status_code == 503
        assert "set-cookie" not in died.headers
        down = await c.get("/write", headers=cookie)
        assert down.status_code == 503
        server.start()
        back = await c.get("/noop", headers=cookie)
        assert back.status_code == 200
        if survives_restart:
            assert back.text == "{'n': 1}"  # committed data kept, the lost write not applied
    await store.aclose()
    store.close()


async def test_redis_killed_mid_request() -> None:
    server = killable_redis()
    store = from_url(f"redis://127.0.0.1:{server.port}/0?prefix=t-{uuid.uuid4().hex[:8]}:")
    await _outage(store, server, survives_restart=True)
    server.kill()


async def test_memcached_killed_mid_request() -> None:
    server = killable_memcached()
    store = from_url(f"memcached://127.0.0.1:{server.port}")
    # Memcached keeps nothing across a restart: only the 503 and the reconnect count.
    await _outage(store, server, survives_restart=False)
    server.kill()
