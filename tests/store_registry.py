"""Every store the conformance suite runs over, by name.

Each entry builds a fresh, empty, migrated store for one test and cleans up
after it. Stores that need a server call :func:`require_server`: outside CI
a missing server skips with a one-line reason; with ``CI=true`` it fails.
Tests share the machine's servers with other test runs, so each entry works
in a namespace of its own (a fresh table, a random key prefix), never
flushing a whole server.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from sessionary.stores import from_url
from sessionary.stores.base import Store

IN_CI = os.environ.get("CI", "").lower() == "true"

StoreFactory = Callable[[Path], AbstractAsyncContextManager[Store]]
STORES: dict[str, StoreFactory] = {}


def register(name: str) -> Callable[[StoreFactory], StoreFactory]:
    def add(factory: StoreFactory) -> StoreFactory:
        STORES[name] = factory
        return factory

    return add


def require_server(host: str, port: int, what: str) -> None:
    """Skip (or, in CI, fail) when nothing listens at ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        message = f"{what} is not reachable at {host}:{port}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing server fails the run)")
        pytest.skip(message)


@asynccontextmanager
async def _migrated(url: str) -> AsyncIterator[Store]:
    store = from_url(url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.aclose()
        store.close()


@register("memory")
def memory(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    return _migrated("memory://")


@register("sqlite")
def sqlite(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    return _migrated(f"sqlite:///{tmp_path / 'sessions.db'}")


@asynccontextmanager
async def _redis(url: str) -> AsyncIterator[Store]:
    prefix = f"sessionary-test-{uuid.uuid4().hex[:12]}:"
    store = from_url(f"{url}{'&' if '?' in url else '?'}prefix={prefix}")
    try:
        yield store
    finally:
        await store.aclose()
        store.close()
        # Remove only this test's keys: other runs share the server.
        cleanup = from_url(f"{url}{'&' if '?' in url else '?'}prefix={prefix}")
        client = cleanup._sync.client()  # type: ignore[attr-defined]
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        cleanup.close()


@register("redis")
def redis(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    require_server("127.0.0.1", 6379, "Redis")
    return _redis("redis://127.0.0.1:6379/0")


@register("redis-cluster")
def redis_cluster(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    from .servers import redis_cluster as start

    return _redis(start())


@register("redis-sentinel")
def redis_sentinel(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    from .servers import redis_sentinel as start

    return _redis(start())


@asynccontextmanager
async def _sql_server(url: str) -> AsyncIterator[Store]:
    table = f"sessionary_test_{uuid.uuid4().hex[:12]}"
    store = from_url(url, table=table)
    await store.migrate()
    try:
        yield store
    finally:
        await store.aclose()
        store.close()
        import sqlalchemy as sa

        from sessionary.stores._sql import engine_urls

        engine = sa.create_engine(engine_urls(url)[0])
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


@register("postgresql")
def postgresql(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    return _sql_server("postgresql://postgres@127.0.0.1:5432/test")


@register("mysql")
def mysql(tmp_path: Path) -> AbstractAsyncContextManager[Store]:
    require_server("127.0.0.1", 3306, "MariaDB")
    return _sql_server("mysql://root@127.0.0.1:3306/test")
