"""``CachedDatabaseStore``'s operations, async (source of the generated sync twin).

The protocol (leases, fills by compare-and-set, version-marked write-through) is told in
``..cached_database``.
"""

from __future__ import annotations

from ...exceptions import SessionDataError, SessionKeyExists, StoreError, StoreUnavailable
from .._cached import (
    LEASE,
    CachedBase,
    best_effort,
    expiry_change,
    fill_change,
    from_cache,
    lapsed,
    logger,
    newest_mark,
    settled,
    usable,
    write_change,
)
from ..base import Change, Progress, SessionInfo, SessionRecord, check_session_id, check_target


class AsyncCachedDatabase(CachedBase):
    """The store's operations: the database first, the cache best effort."""

    async def _take_lease(self, key: str) -> bool:
        try:
            await self.cache.save(key, self.lease(), must_create=True)
        except SessionKeyExists:
            return False  # another reader is filling, or the entry appeared meanwhile
        return True

    async def _fill(self, key: str, record: SessionRecord | None) -> None:
        with best_effort():
            if record is None:
                await self.cache.delete(key)
            else:
                change = fill_change(record, self.clock() + self.cache_seconds)
                await self._put(key, record, change)

    async def _put(self, key: str, record: SessionRecord, change: Change) -> None:
        """Write ``record`` into the entry by ``change``; expire the entry if it lost a
        race, or if the cache refused the record (one that is down is not asked twice)."""
        try:
            written = await self.cache.apply(key, change)
        except StoreUnavailable as exc:
            logger.warning("session cache unavailable, using the database: %s", exc)
            return
        except (StoreError, SessionDataError) as exc:
            logger.warning("session cache refused a record, evicting the older copy: %s", exc)
            await self._expire(key, record.version)
            return
        if written is not None and not settled(written, record):
            await self._expire(key, record.version)

    async def _expire(self, key: str, version: int | None) -> None:
        with best_effort():
            await self.cache.apply(key, expiry_change(self.clock(), version))

    async def _evict(self, key: str) -> None:
        with best_effort():
            await self.cache.delete(key)

    async def load(self, key: str) -> SessionRecord | None:
        cached = None
        with best_effort():
            cached = await self.cache.load(key)
        if cached is not None:
            if usable(cached):
                return from_cache(cached)
            if LEASE not in cached.meta or lapsed(cached, self.clock()):
                # An older write landed last and its writer could not expire it,
                # or a lease whose filler is gone (writes landing on it keep it).
                await self._expire(key, newest_mark(cached))
        leased = False
        if cached is None:
            with best_effort():
                leased = await self._take_lease(key)
        record = await self.database.load(key)
        if leased:
            await self._fill(key, record)
        return record

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        await self.database.save(key, record, must_create=must_create)
        if not must_create:  # a fresh key has nothing cached; a whole record may lower the version
            await self._evict(key)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        # ``base`` came from ``load``: the database's record, or the cache's
        # exact copy of one of its versions; the database checks that version.
        record = await self.database.apply(key, change, base)
        if record is None or record.version <= (base.version if base is not None else 0):
            await self._evict(key)  # gone, or a store whose versions do not grow: no copy
            return record
        dropped = tuple(name for name, value in change.meta.items() if value is None)
        replaces = base.version if base is not None else record.version - 1
        written = write_change(
            record, self.clock() + self.cache_seconds, dropped=dropped, replaces=replaces
        )
        await self._put(key, record, written)
        return record

    async def delete(self, key: str) -> None:
        await self.database.delete(key)
        await self._evict(key)

    async def forget(self, session_id: str) -> None:
        check_session_id(session_id)
        await self.database.forget(session_id)
        with best_effort():
            await self.cache.forget(session_id)

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
            with best_effort():
                await self.cache.forget(session_id)
        return ended

    async def migrate(self) -> bool:
        created = await self.database.migrate()
        return await self.cache.migrate() or created

    async def aclose(self) -> None:
        await self.database.aclose()
        await self.cache.aclose()
