"""``CachedDatabaseStore``: reads from a cache, writes through to a database.

``cached+<database url>?cache=<cache url>``, e.g.
``cached+postgresql://db/app?cache=redis://cache:6379/0``. The cache URL is
the last parameter and may be given raw or percent-encoded.

The database is the source of truth: every write (and its atomic change-set
apply) goes there first, then the result is written to the cache; reads try
the cache first and fill it on a miss. A cache that fails (down, timing
out) is logged and bypassed: sessions keep working from the database, never
an error, and the cache catches up as requests write through it again. As
with Django's ``cached_db``, two writers racing can leave the cache one
write behind until the next write or its expiry; the database never is.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import unquote

from .._clock import Clock
from ..exceptions import ConfigurationError, StoreError
from .base import Change, Progress, SessionInfo, SessionRecord, Store

__all__ = ["CachedDatabaseStore"]

logger = logging.getLogger("sessionary")
T = TypeVar("T")


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

    def __init__(self, database: Store, cache: Store, *, clock: Clock | None = None) -> None:
        self.database = database
        self.cache = cache
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

    # -- the cache, best effort ----------------------------------------------------

    async def _cached(self, call: Callable[[], Awaitable[T]], default: T) -> T:
        try:
            return await call()
        except StoreError as exc:
            logger.warning("session cache unavailable, using the database: %s", exc)
            return default

    def _cached_sync(self, call: Callable[[], T], default: T) -> T:
        try:
            return call()
        except StoreError as exc:
            logger.warning("session cache unavailable, using the database: %s", exc)
            return default

    async def _fill(self, key: str, record: SessionRecord) -> None:
        await self._cached(lambda: self.cache.save(key, _copy(record)), None)

    def _fill_sync(self, key: str, record: SessionRecord) -> None:
        self._cached_sync(lambda: self.cache.save_sync(key, _copy(record)), None)

    # -- async -------------------------------------------------------------------

    async def load(self, key: str) -> SessionRecord | None:
        record = await self._cached(lambda: self.cache.load(key), None)
        if record is not None:
            return record
        record = await self.database.load(key)
        if record is not None:
            await self._fill(key, record)
        return record

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        await self.database.save(key, record, must_create=must_create)
        await self._fill(key, record)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        # The cached copy may be behind: the database applies against its own row.
        record = await self.database.apply(key, change, None)
        if record is None:
            await self._cached(lambda: self.cache.delete(key), None)
        else:
            await self._fill(key, record)
        return record

    async def delete(self, key: str) -> None:
        await self.database.delete(key)
        await self._cached(lambda: self.cache.delete(key), None)

    async def forget(self, session_id: str) -> None:
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
        record = self._cached_sync(lambda: self.cache.load_sync(key), None)
        if record is not None:
            return record
        record = self.database.load_sync(key)
        if record is not None:
            self._fill_sync(key, record)
        return record

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        self.database.save_sync(key, record, must_create=must_create)
        self._fill_sync(key, record)

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        record = self.database.apply_sync(key, change, None)
        if record is None:
            self._cached_sync(lambda: self.cache.delete_sync(key), None)
        else:
            self._fill_sync(key, record)
        return record

    def delete_sync(self, key: str) -> None:
        self.database.delete_sync(key)
        self._cached_sync(lambda: self.cache.delete_sync(key), None)

    def forget_sync(self, session_id: str) -> None:
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


def _copy(record: SessionRecord) -> SessionRecord:
    # Stores set key_hash on what they are given: keep the caller's record intact.
    return SessionRecord(**{f: getattr(record, f) for f in record.__slots__})
