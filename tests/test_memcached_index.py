"""Memcached's per-user index may be evicted like any item; "sign out everywhere"
must still end every session. A session bound to a user is live only while its
user's index lists it, so an evicted index ends its sessions instead of hiding
them from ``revoke``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymemcache.client.base import Client as PymemcacheClient

from sessionary._keys import hash_key, new_key
from sessionary.stores.base import ALL, ALL_BUT_CURRENT, SessionRecord
from sessionary.stores.memcached import MemcachedStore

from .servers import Killable, killable_memcached
from .store_registry import STORES


def bound(now: float, user_id: str, **data: str) -> SessionRecord:
    data = {k: f'"{v}"' for k, v in data.items()}
    return SessionRecord("", data, now, now, now + 3600, user_id=user_id, version=1)


def raw_client(store: MemcachedStore, user_id: str) -> tuple[PymemcacheClient, bytes]:
    """A plain client on the server holding ``user_id``'s index, and the index's key."""
    index = store._sync.user_key(user_id)
    host, _, port = store._sync.driver.router.node(index).rpartition(":")
    return PymemcacheClient((host, int(port))), index


@pytest.fixture(params=["memcached", "memcached-pair"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MemcachedStore]:
    async with STORES[request.param](tmp_path) as built:
        assert isinstance(built, MemcachedStore)
        yield built


async def test_an_evicted_user_index_ends_that_users_sessions(store: MemcachedStore) -> None:
    keys = [new_key() for _ in range(5)]
    for key in keys:
        await store.save(key, bound(store.clock(), "alice", a="1"))
    other = new_key()
    await store.save(other, bound(store.clock(), "bob", b="2"))
    assert len(await store.sessions_for("alice")) == 5
    client, index = raw_client(store, "alice")
    client.delete(index)  # what memcached does to a cold item under memory pressure
    client.close()
    for key in keys:
        assert await store.load(key) is None
        assert store.load_sync(key) is None
        assert not await store.exists(key)
    assert await store.sessions_for("alice") == []
    assert await store.revoke("alice", ALL) == 0
    assert await store.load(other) is not None  # another user's sessions are untouched


async def test_a_session_dropped_from_the_index_is_over_even_if_its_record_stays(
    store: MemcachedStore,
) -> None:
    kept, dropped = new_key(), new_key()
    for key in (kept, dropped):
        await store.save(key, bound(store.clock(), "alice", a="1"))
    store._sync._index("alice", remove={hash_key(dropped)})
    assert await store.load(dropped) is None
    assert await store.load(kept) is not None
    assert [s.session_id for s in await store.sessions_for("alice")] == [hash_key(kept)]


async def test_sign_in_after_an_eviction_starts_a_fresh_index(store: MemcachedStore) -> None:
    old = new_key()
    await store.save(old, bound(store.clock(), "alice", a="1"))
    client, index = raw_client(store, "alice")
    client.delete(index)
    client.close()
    new = new_key()
    await store.save(new, bound(store.clock(), "alice", a="2"))
    assert await store.load(old) is None
    assert await store.load(new) is not None
    assert [s.session_id for s in await store.sessions_for("alice")] == [hash_key(new)]
    assert await store.revoke("alice", ALL_BUT_CURRENT, current=new) == 0
    assert await store.revoke("alice", ALL) == 1
    assert await store.load(new) is None


@pytest.fixture
def small_memcached() -> Iterator[Killable]:
    """A memcached of 2 MB (with the default 1 MiB items, ``-m 1`` refuses to start)."""
    binary = killable_memcached()  # skips, or fails with CI=true, without memcached
    binary.kill()
    server = Killable(binary.command[0], "-u", "root", "-l", "127.0.0.1", "-p", "{port}", "-m", "2")
    server.start()
    yield server
    server.kill()


async def test_sign_out_everywhere_under_memory_pressure_ends_every_session(
    small_memcached: Killable,
) -> None:
    prefix = f"sessionary-test-{uuid.uuid4().hex[:12]}:"
    store = MemcachedStore(f"memcached://127.0.0.1:{small_memcached.port}?prefix={prefix}")
    keys = [new_key() for _ in range(5)]
    for key in keys:
        await store.save(key, bound(store.clock(), "alice", cart="x" * 100))
    filler = PymemcacheClient(("127.0.0.1", small_memcached.port))
    index_key = store._sync.user_key("alice")
    index_size = len(index_key) + len(filler.get(index_key) or b"")
    assert index_size > 300
    # The user keeps using the five sessions while other traffic fills the
    # cache many times over with items of the index's size class, each read
    # again (memcached protects items read since written from one-shot writes).
    for round_ in range(40):
        # Keys and values the index's size: the same slab class, the same LRU.
        fill = {f"fill:{round_:03}:{i:04}": b"f" * (index_size - 13) for i in range(300)}
        filler.set_many(fill)
        filler.get_many(list(fill))
        filler.get_many(list(fill))
        for key in keys:
            await store.load(key)
    stats = filler.stats()
    assert int(stats[b"evictions"]) > 1000  # the pressure was real
    live_before = [key for key in keys if await store.load(key) is not None]
    assert live_before  # in use, so kept: each load reads the index too
    listed = {info.session_id for info in await store.sessions_for("alice")}
    assert listed == {hash_key(key) for key in live_before}  # the listing does not lie
    await store.revoke("alice", ALL)
    live_after = [key for key in keys if await store.load(key) is not None]
    assert live_after == []
    filler.close()
    await store.aclose()
    store.close()
