"""The lifecycle's crash path under a real store fault: the app raised after
a flush, and the store's connection is cut before the dead record can go."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware
from sessionary.stores.database import DatabaseStore

from .faults import TcpProxy
from .test_outages import pg_store, proxy

__all__ = ["pg_store", "proxy"]  # fixtures, shared with the outage tests


class Crash(RuntimeError):
    pass


def crashing_app(cut: Any) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        session = scope["session"]
        if scope["path"] == "/write":
            session["n"] = 1
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        session.flush()
        cut()
        raise Crash("after flush")

    return app


async def test_a_crash_during_an_outage_raises_the_apps_error_not_the_stores(
    pg_store: DatabaseStore, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    config = SessionConfig(store=pg_store)
    transport = httpx.ASGITransport(SessionMiddleware(crashing_app(proxy.cut), config))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        key = (await client.get("/write")).cookies["sessionid"]
        caplog.set_level(logging.INFO, logger="sessionary")
        with pytest.raises(Crash):
            await client.get("/flush-and-crash", headers={"cookie": f"sessionid={key}"})
    assert "session store failed while ending a failed request" in caplog.text
    proxy.restore()
    # The delete could not reach the store: the record is still there, and
    # says so honestly rather than pretending the logout happened.
    assert await pg_store.load(key) is not None
