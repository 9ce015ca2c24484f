"""``wait_replicas``: a Redis write is acknowledged only once replicas hold it (WAIT)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis

from sessionary import ConfigurationError, StoreUnavailable
from sessionary._keys import hash_key, new_key
from sessionary.stores.base import Change, SessionRecord
from sessionary.stores.redis import RedisStore

from .servers import redis_with_replica


def _record(**data: str) -> SessionRecord:
    now = time.time()
    return SessionRecord(
        key_hash="",
        data={k: f'"{v}"' for k, v in data.items()},
        created=now,
        last_seen=now,
        expires=now + 600,
        version=1,
    )


def _replica_holds(port: int, prefix: str, key: str) -> dict[bytes, bytes]:
    replica = redis.Redis(port=port)
    try:
        return replica.hgetall(f"{prefix}{hash_key(key)}")  # type: ignore[return-value]
    finally:
        replica.close()


@pytest.fixture
async def replicated() -> AsyncIterator[tuple[RedisStore, int]]:
    master, replica = redis_with_replica()
    store = RedisStore(f"redis://127.0.0.1:{master}/0?prefix=wait:&wait_replicas=1")
    yield store, replica
    await store.aclose()


async def test_every_write_is_on_the_replica_when_it_is_acknowledged(
    replicated: tuple[RedisStore, int],
) -> None:
    store, replica = replicated
    key = new_key()
    await store.save(key, _record(a="1"), must_create=True)
    # No sleep: WAIT returned only after the replica acknowledged the write.
    assert _replica_holds(replica, "wait:", key)[b"d:a"] == b'"1"'
    now = time.time()
    change = Change(set={"b": '"2"'}, delete=frozenset(), last_seen=now, expires=now + 600)
    assert await store.apply(key, change) is not None
    assert _replica_holds(replica, "wait:", key)[b"d:b"] == b'"2"'
    store.delete_sync(key)
    assert _replica_holds(replica, "wait:", key) == {}


async def test_too_few_replicas_is_unavailable_within_the_timeout() -> None:
    # The shared Redis has no replica: asking for one can never be met.
    store = RedisStore("redis://127.0.0.1:6379/0?prefix=wait-none:&wait_replicas=1&timeout=0.4")
    key = new_key()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
        await store.save(key, _record(a="1"))
    assert time.monotonic() - started < 1.0
    other = new_key()
    with pytest.raises(StoreUnavailable, match="0 of 1 replicas"):
        store.save_sync(other, _record(a="1"))
    await store.aclose()
    # The writes are on the master all the same: 503 says they are not safe, not absent.
    raw = redis.Redis()
    try:
        assert raw.delete(*(f"wait-none:{hash_key(k)}" for k in (key, other))) == 2
    finally:
        raw.close()


def test_wait_replicas_is_checked() -> None:
    assert RedisStore("redis://127.0.0.1:6379/0")._async.wait_replicas == 0
    assert RedisStore("redis://127.0.0.1:6379/0", wait_replicas=2)._async.wait_replicas == 2
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(ConfigurationError, match="wait_replicas"):
            RedisStore(f"redis://127.0.0.1:6379/0?wait_replicas={bad}")
    with pytest.raises(ConfigurationError, match="not supported on redis\\+cluster"):
        RedisStore("redis+cluster://127.0.0.1:7000?wait_replicas=1")
