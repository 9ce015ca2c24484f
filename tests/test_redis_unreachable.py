"""A Redis that is not there answers StoreUnavailable within the store's
timeout on both colours, whatever the URL names (one server, a cluster, a
Sentinel): redis-py's retry never holds a request past it. And a restarted
server costs no request: the pooled connection it dropped is replaced."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from sessionary import StoreUnavailable
from sessionary._keys import new_key
from sessionary.stores import from_url
from sessionary.stores.base import SessionRecord, Store

from .servers import Killable, killable_redis

TIMEOUT = 0.3
# Scheduling on a shared, busy machine: a bound, not a benchmark. redis-py's
# default retry (ten tries, jittered exponential backoff) took 3-4 s here.
MARGIN = 1.0


def _nothing_listening() -> int:
    """A loopback port that refuses connections (nothing was started on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["redis://127.0.0.1:{port}/0", "redis+cluster://127.0.0.1:{port}",
                        "redis+sentinel://127.0.0.1:{port}/mymaster/0"],
                ids=["single", "cluster", "sentinel"])  # fmt: skip
def refused(request: pytest.FixtureRequest) -> Iterator[Store]:
    url = str(request.param).format(port=_nothing_listening())
    store = from_url(f"{url}?timeout={TIMEOUT}")
    yield store
    store.close()


@pytest.fixture
def server() -> Iterator[Killable]:
    server = killable_redis()
    yield server
    server.kill()


def _store(server: Killable) -> Store:
    prefix = f"sessionary-unreachable-{uuid.uuid4().hex[:8]}:"
    return from_url(f"redis://127.0.0.1:{server.port}/0?prefix={prefix}&timeout={TIMEOUT}")


def _record(store: Store) -> SessionRecord:
    now = store.clock()
    return SessionRecord("", {"n": "1"}, now, now, now + 600, version=1)


async def _assert_unavailable_within_the_timeout(store: Store) -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.load_sync(new_key())
    assert time.monotonic() - started < TIMEOUT + MARGIN
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.load(new_key())
    assert time.monotonic() - started < TIMEOUT + MARGIN


async def test_nothing_listening_is_store_unavailable_within_the_timeout(refused: Store) -> None:
    await _assert_unavailable_within_the_timeout(refused)
    await refused.aclose()


async def test_a_killed_server_is_store_unavailable_within_the_timeout(server: Killable) -> None:
    store = _store(server)
    # Both colours hold a pooled connection when the server dies.
    assert store.load_sync(new_key()) is None
    assert await store.load(new_key()) is None
    server.kill()
    await _assert_unavailable_within_the_timeout(store)
    await store.aclose()
    store.close()


async def test_a_restarted_server_costs_no_request(server: Killable) -> None:
    store = _store(server)
    sync_key, async_key = new_key(), new_key()
    store.save_sync(sync_key, _record(store), must_create=True)
    await store.save(async_key, _record(store), must_create=True)
    server.kill()
    server.start()  # same port, same append-only file
    sync_back = store.load_sync(sync_key)
    async_back = await store.load(async_key)
    assert sync_back is not None
    assert sync_back.data == {"n": "1"}
    assert async_back is not None
    assert async_back.data == {"n": "1"}
    await store.aclose()
    store.close()
