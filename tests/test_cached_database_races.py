"""CachedDatabaseStore never serves what the database no longer holds, however
slow the cache's writes: a logout or a write racing a cache fill wins.

The cache is a real store of each kind (memory, Redis, Memcached) behind a
wrapper that holds its writes back, so a fill lands after the logout."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sessionary import StoreUnavailable
from sessionary._keys import new_key
from sessionary.exceptions import SessionDataError
from sessionary.stores._cached import from_cache, usable
from sessionary.stores.base import Change, SessionRecord, Store
from sessionary.stores.cached_database import LEASE_SECONDS, CachedDatabaseStore
from sessionary.stores.database import DatabaseStore
from sessionary.stores.memory import MemoryStore

from .conftest import FakeClock
from .store_registry import STORES


class Wrapping(Store):
    """A store that hands each async operation to ``inner``; subclasses hook one in."""

    def __init__(self, inner: Store) -> None:
        super().__init__(clock=inner.clock)
        self.inner = inner

    async def load(self, key: str) -> SessionRecord | None:
        return await self.inner.load(key)

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        await self.inner.save(key, record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        return await self.inner.apply(key, change, base)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)


class SlowWrites(Wrapping):
    """A cache store whose writes of session data wait: for a gate, or a random delay.

    With a gate, the first such write waits for it and later ones go through.
    Writes of an empty record (a placeholder) and deletes go through at once.
    """

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.gate: asyncio.Event | None = None
        self.sync_gate: threading.Event | None = None
        self.held = asyncio.Event()
        self.sync_held = threading.Event()
        self.max_delay = 0.0

    async def _hold(self) -> None:
        if self.gate is not None:
            if not self.held.is_set():  # the first write waits; those racing it go through
                self.held.set()
                await self.gate.wait()
        elif self.max_delay:
            await asyncio.sleep(random.uniform(0, self.max_delay))

    def _hold_sync(self) -> None:
        if self.sync_gate is not None and not self.sync_held.is_set():
            self.sync_held.set()
            assert self.sync_gate.wait(10)

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        if record.data:
            await self._hold()
        await self.inner.save(key, record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        await self._hold()
        return await self.inner.apply(key, change, base)

    def load_sync(self, key: str) -> SessionRecord | None:
        return self.inner.load_sync(key)

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        if record.data:
            self._hold_sync()
        self.inner.save_sync(key, record, must_create=must_create)

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        self._hold_sync()
        return self.inner.apply_sync(key, change, base)

    def delete_sync(self, key: str) -> None:
        self.inner.delete_sync(key)


@pytest.fixture(params=["memory", "redis", "memcached"])
async def cached(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with STORES["sqlite"](tmp_path) as database, STORES[request.param](tmp_path) as cache:
        slow = SlowWrites(cache)
        yield CachedDatabaseStore(database, slow), slow


def record(now: float, **data: str) -> SessionRecord:
    return SessionRecord("", {k: f'"{v}"' for k, v in data.items()}, now, now, now + 600, version=1)


async def test_logout_during_a_slow_cache_fill_is_not_served_from_the_cache(cached: Any) -> None:
    store, slow = cached
    key = new_key()
    await store.save(key, record(store.clock(), a="1"), must_create=True)
    await slow.inner.delete(key)  # evicted: the next read fills the cache
    slow.gate = asyncio.Event()
    reader = asyncio.create_task(store.load(key))  # misses, reads the row, fills slowly
    await asyncio.wait_for(slow.held.wait(), 5)
    await store.delete(key)  # logout, while the fill is in flight
    slow.gate.set()
    await reader
    slow.gate = None
    assert await store.load(key) is None
    assert await store.load(key) is None  # not in the cache either, even on a second read


async def test_write_during_a_slow_cache_fill_is_not_undone_by_the_cache(cached: Any) -> None:
    store, slow = cached
    key = new_key()
    now = store.clock()
    await store.save(key, record(now, a="1"), must_create=True)
    await slow.inner.delete(key)
    slow.gate = asyncio.Event()
    reader = asyncio.create_task(store.load(key))
    await asyncio.wait_for(slow.held.wait(), 5)
    change = Change(set={"a": '"2"'}, delete=frozenset(), last_seen=now, expires=now + 600)
    assert await store.apply(key, change) is not None
    slow.gate.set()
    await reader
    slow.gate = None
    for _ in range(2):
        loaded = await store.load(key)
        assert loaded is not None
        assert loaded.data == {"a": '"2"'}


def test_logout_during_a_slow_cache_fill_is_not_served_sync(cached: Any) -> None:
    store, slow = cached
    key = new_key()
    store.save_sync(key, record(store.clock(), a="1"), must_create=True)
    slow.inner.delete_sync(key)
    slow.sync_gate = threading.Event()
    reader = threading.Thread(target=store.load_sync, args=(key,))
    reader.start()
    assert slow.sync_held.wait(5)
    store.delete_sync(key)
    slow.sync_gate.set()
    reader.join(10)
    slow.sync_gate = None
    assert store.load_sync(key) is None
    assert store.load_sync(key) is None


async def test_thirty_logouts_racing_slow_refills_all_stay_logged_out(cached: Any) -> None:
    store, slow = cached
    slow.max_delay = 0.02
    served = 0
    for _ in range(30):
        key = new_key()
        await store.save(key, record(store.clock(), a="1"), must_create=True)
        await slow.inner.delete(key)
        readers = [asyncio.create_task(store.load(key)) for _ in range(3)]
        await asyncio.sleep(random.uniform(0, 0.01))
        await store.delete(key)
        await asyncio.gather(*readers)
        await asyncio.sleep(0.025)  # every held fill has landed by now
        if await store.load(key) is not None:
            served += 1
    assert served == 0


async def test_cache_hit_keeps_the_records_own_times_and_user(cached: Any) -> None:
    store, slow = cached
    key = new_key()
    now = store.clock()
    original = SessionRecord(
        "", {"a": '"1"'}, now - 500, now - 5, now + 600, user_id="alice", version=3
    )
    await store.save(key, original, must_create=True)
    first = await store.load(key)  # fills the cache
    second = await store.load(key)  # served from it
    assert first is not None
    assert second is not None
    for loaded in (first, second):
        assert (loaded.created, loaded.user_id, loaded.data) == (now - 500, "alice", {"a": '"1"'})
        assert loaded.expires == now + 600  # the session's, not the cached copy's
        assert not any(name.startswith("cache:") for name in loaded.meta)
    cached_copy = await slow.inner.load(key)
    assert cached_copy is not None  # the second read was a cache hit
    assert cached_copy.expires <= now + store.cache_seconds + 5  # filled a moment later


class Unreachable(MemoryStore):
    """A memory cache whose deletes fail while ``down``, as an unreachable server's would."""

    down = False

    async def delete(self, key: str) -> None:
        if self.down:
            raise StoreUnavailable("cache is down")
        await super().delete(key)


async def test_a_logout_the_cache_missed_is_served_no_longer_than_cache_seconds(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with STORES["sqlite"](tmp_path) as database:
        cache = Unreachable()
        store = CachedDatabaseStore(database, cache, cache_seconds=60)
        store.clock = clock
        key = new_key()
        now = clock()
        await store.save(key, SessionRecord("", {}, now, now, now + 3600), must_create=True)
        assert await store.load(key) is not None  # cached now
        cache.down = True
        await store.delete(key)  # the database forgets; the cache cannot be told
        cache.down = False
        clock.advance(59)
        assert await store.load(key) is not None  # the gap: served from the stale copy
        clock.advance(2)
        assert await store.load(key) is None  # but never longer than cache_seconds


# -- write-through: each race run step by step, in the racing order ------------------


class Queued(Wrapping):
    """A cache store whose ``apply`` calls wait, while ``holding``, until released one by one."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.holding = False
        self.waiting: list[asyncio.Event] = []
        self.arrived = asyncio.Event()

    async def next_held(self) -> asyncio.Event:
        """The gate of the next apply to arrive (waits for it)."""
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.waiting[-1]

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        if self.holding:
            gate = asyncio.Event()
            self.waiting.append(gate)
            self.arrived.set()
            await gate.wait()
        return await self.inner.apply(key, change, base)


@pytest.fixture(params=["memory", "redis", "memcached"])
async def queued(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    async with STORES["sqlite"](tmp_path) as database, STORES[request.param](tmp_path) as cache:
        gates = Queued(cache)
        yield CachedDatabaseStore(database, gates), gates


def setting(now: float, value: str) -> Change:
    return Change(set={"a": f'"{value}"'}, delete=frozenset(), last_seen=now, expires=now + 600)


async def cached_copy(gates: Queued, key: str) -> SessionRecord | None:
    """What the cache would serve (None: nothing, or an entry no reader may use)."""
    entry = await gates.inner.load(key)
    return from_cache(entry) if entry is not None and usable(entry) else None


async def cached_session(store: CachedDatabaseStore, gates: Queued, key: str) -> SessionRecord:
    """A session saved and read once, so the cache holds a copy of it."""
    await store.save(key, record(store.clock(), a="1"), must_create=True)
    loaded = await store.load(key)
    assert loaded is not None
    copy = await cached_copy(gates, key)
    assert copy is not None
    assert copy.version == loaded.version == 1
    return loaded


async def test_a_write_updates_the_cached_copy(queued: Any) -> None:
    store, gates = queued
    key = new_key()
    loaded = await cached_session(store, gates, key)
    written = await store.apply(key, setting(store.clock(), "2"), loaded)
    assert written is not None
    copy = await cached_copy(gates, key)
    assert copy is not None  # written through: the next read is a hit
    assert (copy.version, copy.data) == (2, {"a": '"2"'})
    assert await store.load(key) == copy


async def test_an_older_write_landing_last_never_replaces_the_newer_copy(queued: Any) -> None:
    store, gates = queued
    key = new_key()
    loaded = await cached_session(store, gates, key)
    now = store.clock()
    gates.holding = True
    older = asyncio.create_task(store.apply(key, setting(now, "A"), loaded))  # v2
    older_write = await gates.next_held()
    newer = asyncio.create_task(store.apply(key, setting(now, "B"), loaded))  # v3, after a re-read
    newer_write = await gates.next_held()
    newer_write.set()  # the newer one reaches the cache first
    assert (await newer) is not None
    copy = await cached_copy(gates, key)
    assert copy is not None
    assert (copy.version, copy.data) == (3, {"a": '"B"'})
    older_write.set()  # then the older one lands on it
    older_expiry = await gates.next_held()  # its writer sees the newer mark: it expires the entry
    assert await cached_copy(gates, key) is None  # meanwhile no reader is served the older copy
    reader = asyncio.create_task(store.load(key))  # reads the database, and expires the entry too
    reader_expiry = await gates.next_held()
    reader_expiry.set()
    loaded_meanwhile = await reader
    assert loaded_meanwhile is not None
    assert loaded_meanwhile.data == {"a": '"B"'}
    older_expiry.set()
    assert (await older) is not None
    gates.holding = False
    copy = await cached_copy(gates, key)
    assert copy is None or (copy.version, copy.data) == (3, {"a": '"B"'})
    for _ in range(2):  # refilled from the database, then a hit
        again = await store.load(key)
        assert again is not None
        assert (again.version, again.data) == (3, {"a": '"B"'})


async def test_writes_landing_in_order_keep_the_newest_copy(queued: Any) -> None:
    store, gates = queued
    key = new_key()
    loaded = await cached_session(store, gates, key)
    now = store.clock()
    gates.holding = True
    older = asyncio.create_task(store.apply(key, setting(now, "A"), loaded))
    older_write = await gates.next_held()
    newer = asyncio.create_task(store.apply(key, setting(now, "B"), loaded))
    newer_write = await gates.next_held()
    gates.holding = False
    older_write.set()
    await older
    newer_write.set()
    await newer
    copy = await cached_copy(gates, key)
    assert copy is not None
    assert (copy.version, copy.data) == (3, {"a": '"B"'})


async def test_a_delete_racing_a_write_leaves_nothing_cached(queued: Any) -> None:
    store, gates = queued
    key = new_key()
    loaded = await cached_session(store, gates, key)
    gates.holding = True
    writer = asyncio.create_task(store.apply(key, setting(store.clock(), "2"), loaded))
    write = await gates.next_held()  # written to the database, not yet to the cache
    await store.delete(key)  # the logout: the database, then the cache
    gates.holding = False
    write.set()
    assert (await writer) is not None
    assert await gates.inner.load(key) is None  # the write found no entry: it made none
    assert await store.load(key) is None
    assert await store.load(key) is None


async def test_a_write_landing_on_a_readers_lease_after_a_delete_is_never_served(
    queued: Any,
) -> None:
    store, gates = queued
    key = new_key()
    loaded = await cached_session(store, gates, key)
    gates.holding = True
    writer = asyncio.create_task(store.apply(key, setting(store.clock(), "2"), loaded))
    write = await gates.next_held()
    await store.delete(key)
    await gates.inner.save(key, store.lease(), must_create=True)  # a reader's lease, then...
    gates.holding = False
    write.set()  # ...the write lands on it
    await writer
    assert await cached_copy(gates, key) is None  # still a lease: served to no one
    assert await store.load(key) is None


async def test_a_write_racing_a_fill_is_not_undone_by_the_older_fill(queued: Any) -> None:
    store, gates = queued
    key = new_key()
    now = store.clock()
    await store.save(key, record(now, a="1"), must_create=True)
    gates.holding = True
    reader = asyncio.create_task(store.load(key))  # misses, leases, reads v1
    fill = await gates.next_held()
    base = await store.database.load(key)
    writer = asyncio.create_task(store.apply(key, setting(now, "2"), base))  # v2
    write = await gates.next_held()
    write.set()  # the write lands on the lease first: it stays a lease
    await writer
    assert await cached_copy(gates, key) is None
    fill.set()  # then the fill of v1
    expiry = await gates.next_held()  # the filler sees the newer mark
    assert await cached_copy(gates, key) is None
    expiry.set()
    loaded = await reader
    assert loaded is not None
    assert loaded.data == {"a": '"1"'}  # what it read before the write
    gates.holding = False
    for _ in range(2):
        again = await store.load(key)
        assert again is not None
        assert again.data == {"a": '"2"'}


class Refusing(MemoryStore):
    """A memory cache that refuses to hold a value as large as ``"big"``."""

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        if any("big" in value for value in change.set.values()):
            raise SessionDataError("too large for the cache")
        return await super().apply(key, change, base)


async def test_a_write_the_cache_refuses_evicts_the_older_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with STORES["sqlite"](tmp_path) as database:
        cache = Refusing()
        store = CachedDatabaseStore(database, cache)
        key = new_key()
        await store.save(key, record(store.clock(), a="1"), must_create=True)
        loaded = await store.load(key)
        assert loaded is not None
        assert await cache.load(key) is not None
        assert await store.apply(key, setting(store.clock(), "big"), loaded) is not None
        assert "refused a record" in caplog.text
        assert await cache.load(key) is None  # evicted, not left behind
        again = await store.load(key)
        assert again is not None
        assert again.data == {"a": '"big"'}


class CountingBase(Wrapping):
    """A database store that remembers the ``base`` of each ``apply``."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.bases: list[SessionRecord | None] = []

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        self.bases.append(base)
        return await super().apply(key, change, base)


async def test_a_write_passes_the_cached_copy_as_its_base(tmp_path: Path) -> None:
    async with STORES["sqlite"](tmp_path) as sqlite:
        database = CountingBase(sqlite)
        store = CachedDatabaseStore(database, MemoryStore())
        key = new_key()
        await store.save(key, record(store.clock(), a="1"), must_create=True)
        for value in "234":
            loaded = await store.load(key)
            assert loaded is not None
            assert await store.apply(key, setting(store.clock(), value), loaded) is not None
        assert [base.version if base else None for base in database.bases] == [1, 2, 3]
        final = await sqlite.load(key)
        assert final is not None
        assert (final.version, final.data) == (4, {"a": '"4"'})


async def test_a_lease_whose_filler_is_gone_is_cleared_even_after_writes_landed_on_it(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with STORES["sqlite"](tmp_path) as database:
        cache = MemoryStore()
        store = CachedDatabaseStore(database, cache)
        store.clock = clock
        key = new_key()
        await store.save(key, record(clock(), a="1"), must_create=True)
        await cache.save(key, store.lease(), must_create=True)  # a reader that never fills
        base = await database.load(key)
        assert await store.apply(key, setting(clock(), "2"), base) is not None  # lands on it
        clock.advance(LEASE_SECONDS - 1)
        assert (await store.load(key) or record(0)).data == {"a": '"2"'}
        assert await cache.load(key) is not None  # the lease may still be filled
        clock.advance(2)
        assert (await store.load(key) or record(0)).data == {"a": '"2"'}  # lapsed: expired
        assert (await store.load(key) or record(0)).data == {"a": '"2"'}  # refilled
        copy = await cache.load(key)
        assert copy is not None
        assert usable(copy)


class QueuedSync(MemoryStore):
    """A memory cache whose ``apply_sync`` calls wait, while ``holding``, for their turn."""

    holding = False

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[threading.Event] = []
        self.arrived = threading.Semaphore(0)

    def next_held(self) -> threading.Event:
        assert self.arrived.acquire(timeout=5)
        return self.waiting[-1]

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        if self.holding:
            gate = threading.Event()
            self.waiting.append(gate)
            self.arrived.release()
            assert gate.wait(10)
        return super().apply_sync(key, change, base)


def test_an_older_write_landing_last_is_not_served_sync(tmp_path: Path) -> None:
    database = DatabaseStore(f"sqlite:///{tmp_path / 's.db'}")
    database.migrate_sync()
    cache = QueuedSync()
    store = CachedDatabaseStore(database, cache)
    key = new_key()
    now = store.clock()
    store.save_sync(key, record(now, a="1"), must_create=True)
    loaded = store.load_sync(key)
    cache.holding = True
    results: list[SessionRecord | None] = []
    older = threading.Thread(
        target=lambda: results.append(store.apply_sync(key, setting(now, "A"), loaded))
    )
    older.start()
    older_write = cache.next_held()
    newer = threading.Thread(
        target=lambda: results.append(store.apply_sync(key, setting(now, "B"), loaded))
    )
    newer.start()
    newer_write = cache.next_held()
    newer_write.set()
    newer.join(10)
    older_write.set()
    older_expiry = cache.next_held()  # the older writer saw the newer mark
    entry = cache.load_sync(key)
    assert entry is not None
    assert not usable(entry)
    cache.holding = False
    older_expiry.set()
    older.join(10)
    assert [r.version if r else None for r in results] == [3, 2]
    for _ in range(2):
        again = store.load_sync(key)
        assert again is not None
        assert (again.version, again.data) == (3, {"a": '"B"'})
    store.close()
