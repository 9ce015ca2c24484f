"""Store outages: a PostgreSQL connection broken mid-request, through both
middlewares. 503 (or a degraded blank session when opted in), never a 500,
never a cookie that points at nothing, no committed data lost, reconnection
without a restart, and timeouts that cannot hang a worker."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sessionary import Session, SessionConfig, SessionMiddleware, StoreUnavailable
from sessionary.stores.database import DatabaseStore

from .faults import TcpProxy, outage_app
from .store_registry import require_server


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    p = TcpProxy(5432)
    yield p
    p.close()


@pytest.fixture
async def pg_store(proxy: TcpProxy) -> AsyncIterator[DatabaseStore]:
    table = f"sessionary_outage_{uuid.uuid4().hex[:10]}"
    store = DatabaseStore(
        f"postgresql://postgres@127.0.0.1:{proxy.port}/test", table=table, connect_timeout=2
    )
    store.migrate_sync()
    yield store
    await store.aclose()
    store.close()
    direct = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with direct.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    direct.dispose()


def client(store: DatabaseStore, proxy: TcpProxy, **options: Any) -> httpx.AsyncClient:
    config = SessionConfig(store=store, **options)
    transport = httpx.ASGITransport(SessionMiddleware(outage_app(proxy.cut), config))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_outage_answers_503_and_recovers_without_restart(
    pg_store: DatabaseStore, proxy: TcpProxy
) -> None:
    async with client(pg_store, proxy) as c:
        key = (await c.get("/write")).cookies["sessionid"]
        cookie = {"cookie": f"sessionid={key}"}
        proxy.cut()
        down = await c.get("/write", headers=cookie)
        assert down.status_code == 503
        assert "set-cookie" not in down.headers
        proxy.restore()
        back = await c.get("/write", headers=cookie)
        assert back.status_code == 200
        assert back.text == "{'n': 2}"  # nothing committed was lost


async def test_store_dying_mid_request_loses_no_committed_data(
    pg_store: DatabaseStore, proxy: TcpProxy
) -> None:
    async with client(pg_store, proxy) as c:
        key = (await c.get("/write")).cookies["sessionid"]
        cookie = {"cookie": f"sessionid={key}"}
        response = await c.get("/break-then-write", headers=cookie)
        assert response.status_code == 503
        assert "set-cookie" not in response.headers
        proxy.restore()
        assert (await c.get("/noop", headers=cookie)).text == "{'n': 1}"


async def test_degrade_mode_serves_a_blank_unsaved_session(
    pg_store: DatabaseStore, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sessionary")
    async with client(pg_store, proxy, on_store_error="degrade") as c:
        key = (await c.get("/write")).cookies["sessionid"]
        cookie = {"cookie": f"sessionid={key}"}
        proxy.cut()
        response = await c.get("/write", headers=cookie)
        assert response.status_code == 200
        assert response.text == "{'n': 1}"  # blank session, not the stored one
        assert "set-cookie" not in response.headers  # no cookie pointing at nothing
        assert "blank session" in caplog.text
        proxy.restore()
        assert (await c.get("/noop", headers=cookie)).text == "{'n': 1}"


def test_sync_path_reconnects_after_outage(pg_store: DatabaseStore, proxy: TcpProxy) -> None:
    config = SessionConfig(store=pg_store)
    s = Session(config)
    s["a"] = 1
    s.save_sync()
    proxy.cut()
    with pytest.raises(StoreUnavailable):
        pg_store.load_sync(s.session_key or "")
    proxy.restore()
    again = Session(config, s.session_key)
    again.load_sync()
    assert again["a"] == 1


def test_hung_server_cannot_hang_a_worker(proxy: TcpProxy) -> None:
    proxy.blackhole()
    store = DatabaseStore(f"postgresql://postgres@127.0.0.1:{proxy.port}/test", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.load_sync("a" * 32)
    # Bounded by the configured timeout (generously: this is not a speed test).
    assert time.monotonic() - started < 15
    store.close()
