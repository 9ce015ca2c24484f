"""``CachedDatabaseStore``: reads from a cache, writes through to a database.

``cached+<database url>?cache=<cache url>``, e.g.
``cached+postgresql://db/app?cache=redis://cache:6379/0``. The cache URL is
the last parameter and may be given raw or percent-encoded.

The database is the source of truth: every write goes there, then removes
the session from the cache; reads try the cache first and, on a miss, fill
it from the database. A cache that fails (down, timing out) is logged and
bypassed: sessions keep working from the database, never an error.

The cache never holds a record the database has deleted, nor an older state
than the database's once a write has finished, however slow cache commands
are. A fill is a compare-and-set, built from operations every store has: a
reader that misses first places a *lease* (a placeholder created with
``must_create``), then reads the database, then turns the lease into the
record with ``apply``, which writes nothing when the entry is gone. A
delete or a write that lands anywhere in between removes the lease, so the
fill's ``apply`` finds nothing and the stale copy is dropped; a write never
puts its own result in the cache, whose arrival could be delayed past a
later logout. Readers that meet a lease read the database. The record's
creation time, expiry, user id and version ride in the cache entry's
metadata (an ``apply`` cannot set them) and are restored on the way out.

One gap no protocol closes: a logout while the cache cannot be reached
leaves the cached copy in place. So a copy lives at most ``cache_seconds``
(300 s by default) however long the session: that bounds how long such a
missed logout can be served once the cache is back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import unquote

from .._clock import Clock
from ..exceptions import ConfigurationError, SessionDataError, SessionKeyExists, StoreError
from .base import (
    Change,
    Progress,
    SessionInfo,
    SessionRecord,
    Store,
    check_session_id,
    check_target,
)

__all__ = ["CachedDatabaseStore"]

logger = logging.getLogger("sessionary")
T = TypeVar("T")

# Metadata names the cache entries carry (the framework's own never start with "cache:").
_LEASE = "cache:lease"
_HELD = "cache:record"
LEASE_SECONDS = 30.0
"""How long a fill may take before its lease lapses (the fill then writes nothing)."""
DEFAULT_CACHE_SECONDS = 300.0
"""How long a cached copy lives at most (``cache_seconds``): the bound on how long
a logout made while the cache was unreachable can be missed by it."""


def split_url(url: str) -> tuple[str, str]:
    """``cached+<db>?cache=<cache>`` -> (db url, cache url)."""
    if not url.startswith("cached+"):
        raise ConfigurationError("store", f"{url!r} does not start with 'cached+'")
    rest = url[len("cached+") :]
    for marker in ("&cache=", "?cache="):
        db, found, cache = rest.rpartition(marker)
        if found:
            if "://" not in cache:
                cache = unquote(cache)
            return db, cache
    raise ConfigurationError("store", f"{url!r} names no cache (…?cache=redis://…)")


class CachedDatabaseStore(Store):
    """A database store fronted by a cache store (both any sessionary stores)."""

    def __init__(
        self,
        database: Store,
        cache: Store,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        self.database = database
        self.cache = cache
        self.cache_seconds = cache_seconds
        super().__init__(clock=clock or database.clock)

    @property
    def clock(self) -> Clock:
        return self.database.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.database.clock = clock
        self.cache.clock = clock

    @classmethod
    def from_url(cls, url: str) -> CachedDatabaseStore:
        from . import from_url

        db_url, cache_url = split_url(url)
        return cls(from_url(db_url), from_url(cache_url))

    def __repr__(self) -> str:
        return f"CachedDatabaseStore({self.database!r}, cache={self.cache!r})"

    @property
    def max_user_id_length(self) -> int | None:
        return self.database.max_user_id_length

    # -- the cache, best effort ----------------------------------------------------

    async def _cached(self, call: Callable[[], Awaitable[T]], default: T) -> T:
        try:
            return await call()
        except (StoreError, SessionDataError) as exc:
            logger.warning("session cache unavailable, using the database: %s", exc)
            return default

    def _cached_sync(self, call: Callable[[], T], default: T) -> T:
        try:
            return call()
        except (StoreError, SessionDataError) as exc:
            logger.warning("session cache unavailable, using the database: %s", exc)
            return default

    def _lease(self) -> SessionRecord:
        now = self.clock()
        return SessionRecord("", {}, now, now, now + LEASE_SECONDS, meta={_LEASE: True})

    async def _take_lease(self, key: str) -> bool:
        try:
            await self.cache.save(key, self._lease(), must_create=True)
        except SessionKeyExists:
            return False  # another reader is filling, or the entry appeared meanwhile
        return True

    def _take_lease_sync(self, key: str) -> bool:
        try:
            self.cache.save_sync(key, self._lease(), must_create=True)
        except SessionKeyExists:
            return False
        return True

    async def _fill(self, key: str, record: SessionRecord | None) -> None:
        if record is None:
            await self._cached(lambda: self.cache.delete(key), None)
        else:
            change = _fill_change(record, self.clock() + self.cache_seconds)
            await self._cached(lambda: self.cache.apply(key, change), None)

    def _fill_sync(self, key: str, record: SessionRecord | None) -> None:
        if record is None:
            self._cached_sync(lambda: self.cache.delete_sync(key), None)
        else:
            change = _fill_change(record, self.clock() + self.cache_seconds)
            self._cached_sync(lambda: self.cache.apply_sync(key, change), None)

    # -- async -------------------------------------------------------------------

    async def load(self, key: str) -> SessionRecord | None:
        cached = await self._cached(lambda: self.cache.load(key), None)
        if cached is not None and _LEASE not in cached.meta:
            return _from_cache(cached)
        leased = cached is None and await self._cached(lambda: self._take_lease(key), False)
        record = await self.database.load(key)
        if leased:
            await self._fill(key, record)
        return record

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        await self.database.save(key, record, must_create=must_create)
        if not must_create:  # a fresh key has nothing cached
            await self._cached(lambda: self.cache.delete(key), None)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        # The cached copy may be behind: the database applies against its own row.
        record = await self.database.apply(key, change, None)
        await self._cached(lambda: self.cache.delete(key), None)
        return record

    async def delete(self, key: str) -> None:
        await self.database.delete(key)
        await self._cached(lambda: self.cache.delete(key), None)

    async def forget(self, session_id: str) -> None:
        check_session_id(session_id)
        await self.database.forget(session_id)
        await self._cached(lambda: self.cache.forget(session_id), None)

    async def exists(self, key: str) -> bool:
        return await self.load(key) is not None

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return await self.database.clear_expired(batch_size=batch_size, progress=progress)

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        return await self.database.sessions_for(user_id)

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        check_target(target)
        before = {i.session_id for i in await self.database.sessions_for(user_id)}
        ended = await self.database.revoke(user_id, target, current=current)
        after = {i.session_id for i in await self.database.sessions_for(user_id)}
        for session_id in before - after:  # evict, or the cache would keep them alive
            await self._cached(lambda s=session_id: self.cache.forget(s), None)  # type: ignore[misc]
        return ended

    async def migrate(self) -> bool:
        created = await self.database.migrate()
        return await self.cache.migrate() or created

    async def aclose(self) -> None:
        await self.database.aclose()
        await self.cache.aclose()

    # -- sync --------------------------------------------------------------------

    def load_sync(self, key: str) -> SessionRecord | None:
        cached = self._cached_sync(lambda: self.cache.load_sync(key), None)
        if cached is not None and _LEASE not in cached.meta:
            return _from_cache(cached)
        leased = cached is None and self._cached_sync(lambda: self._take_lease_sync(key), False)
        record = self.database.load_sync(key)
        if leased:
            self._fill_sync(key, record)
        return record

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        self.database.save_sync(key, record, must_create=must_create)
        if not must_create:
            self._cached_sync(lambda: self.cache.delete_sync(key), None)

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        record = self.database.apply_sync(key, change, None)
        self._cached_sync(lambda: self.cache.delete_sync(key), None)
        return record

    def delete_sync(self, key: str) -> None:
        self.database.delete_sync(key)
        self._cached_sync(lambda: self.cache.delete_sync(key), None)

    def forget_sync(self, session_id: str) -> None:
        check_session_id(session_id)
        self.database.forget_sync(session_id)
        self._cached_sync(lambda: self.cache.forget_sync(session_id), None)

    def exists_sync(self, key: str) -> bool:
        return self.load_sync(key) is not None

    def clear_expired_sync(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return self.database.clear_expired_sync(batch_size=batch_size, progress=progress)

    def sessions_for_sync(self, user_id: str) -> list[SessionInfo]:
        return self.database.sessions_for_sync(user_id)

    def revoke_sync(self, user_id: str, target: str, *, current: str | None = None) -> int:
        check_target(target)
        before = {i.session_id for i in self.database.sessions_for_sync(user_id)}
        ended = self.database.revoke_sync(user_id, target, current=current)
        after = {i.session_id for i in self.database.sessions_for_sync(user_id)}
        for session_id in before - after:
            self._cached_sync(lambda s=session_id: self.cache.forget_sync(s), None)  # type: ignore[misc]
        return ended

    def migrate_sync(self) -> bool:
        created = self.database.migrate_sync()
        return self.cache.migrate_sync() or created

    def close(self) -> None:
        self.database.close()
        self.cache.close()


def _fill_change(record: SessionRecord, cache_until: float) -> Change:
    """The change that turns a lease into ``record`` (and does nothing if the lease is gone).

    The cached copy expires at ``cache_until`` or with the session, whichever is first.
    """
    return Change(
        set=dict(record.data),
        delete=frozenset(),
        last_seen=record.last_seen,
        expires=min(record.expires, cache_until),
        clear=True,
        meta={
            **record.meta,
            _LEASE: None,
            _HELD: [record.created, record.user_id, record.version, record.expires],
        },
    )


def _from_cache(cached: SessionRecord) -> SessionRecord:
    held = cached.meta.get(_HELD)
    if not isinstance(held, list) or len(held) != 4:
        return cached  # written whole by an earlier version: already exact
    meta = {name: value for name, value in cached.meta.items() if name != _HELD}
    created, user_id, version, expires = held
    return SessionRecord(
        key_hash=cached.key_hash,
        data=cached.data,
        created=float(created),
        last_seen=cached.last_seen,
        expires=float(expires),
        user_id=user_id,
        version=int(version),
        meta=meta,
    )
