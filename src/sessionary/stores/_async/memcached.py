"""Memcached backend of ``MemcachedStore``, async (source of the generated sync twin).

A record's version is memcached's CAS token, captured when it is read
(``gets``): an ``apply`` with that base costs one ``cas`` round trip; when
the token is stale (another request wrote first) it re-reads and re-applies,
a bounded number of times. A record that is gone is never recreated.

The per-user index is the authority on a user's sessions, because memcached
may evict it like any item: a session bound to a user is live only while
its user's index lists it. So an evicted index cannot make "sign out
everywhere" miss a session (the sessions it listed are over already: that
user signs in again), ``revoke`` ends exactly what the index lists, and a
listing never omits a live session. Binding adds to the index before the
record is written, so a session is never live unlisted. Each load of a
user's session reads the index, which keeps it as recently used as the
user's most recent session in memcached's LRU.

Each operation runs inside the driver's ``operation()``: one deadline for
the whole of it, and the driver's errors as sessionary's.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from ...exceptions import SessionKeyExists, StoreError
from .._drivers import AsyncMemcachedDriver
from .._memcached import MAX_ATTEMPTS, Keys, Router, backoff, decode, encode, expire_arg
from ..base import (
    ALL,
    ALL_BUT_CURRENT,
    Change,
    Progress,
    SessionInfo,
    SessionRecord,
    apply_change,
)


class AsyncMemcachedBackend(Keys):
    """The store's operations on key hashes, over one driver."""

    def __init__(
        self, prefix: str, clock: Callable[[], float], router: Router, timeout: float
    ) -> None:
        super().__init__(prefix, clock)
        self.driver = AsyncMemcachedDriver(router, timeout)

    async def load(self, key_hash: str) -> SessionRecord | None:
        async with self.driver.operation():
            return await self._load(key_hash)

    async def exists(self, key_hash: str) -> bool:
        async with self.driver.operation():
            return await self._load(key_hash) is not None

    async def save(self, record: SessionRecord, *, must_create: bool) -> None:
        key = self.record_key(record.key_hash)
        async with self.driver.operation():
            if record.user_id is not None:  # listed first: never live unlisted
                await self._index(record.user_id, add=record.key_hash)
            expire = expire_arg(record.expires, self.clock())
            if must_create:
                if not await self.driver.add(key, encode(record), expire):
                    raise SessionKeyExists("session key already exists")
            else:
                await self.driver.set(key, encode(record), expire)

    async def apply(
        self, key_hash: str, change: Change, base: SessionRecord | None
    ) -> SessionRecord | None:
        async with self.driver.operation():
            return await self._apply(key_hash, change, base)

    async def delete(self, key_hash: str) -> None:
        async with self.driver.operation():
            await self._delete(key_hash)

    async def clear_expired(self, batch_size: int, progress: Progress | None) -> int:
        return 0  # memcached expires records itself and cannot be scanned

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        async with self.driver.operation():
            return await self._sessions_for(user_id)

    async def revoke(self, user_id: str, target: str, keep: str | None) -> int:
        async with self.driver.operation():
            ended = 0
            for info in await self._sessions_for(user_id):
                if target not in (ALL, ALL_BUT_CURRENT) and info.session_id != target:
                    continue
                if target == ALL_BUT_CURRENT and info.session_id == keep:
                    continue
                await self._delete(info.session_id)
                ended += 1
            return ended

    async def aclose(self) -> None:
        await self.driver.aclose()

    # -- the steps, inside an operation --------------------------------------------

    async def _load(self, key_hash: str) -> SessionRecord | None:
        record = await self._load_record(key_hash)
        if record is None or record.user_id is None:
            return record
        if key_hash not in await self._members(record.user_id):
            return None  # revoked, or its user's index was evicted: over either way
        return record

    async def _load_record(self, key_hash: str) -> SessionRecord | None:
        raw, token = await self.driver.gets(self.record_key(key_hash))
        if raw is None:
            return None
        record = decode(key_hash, raw, token)
        return record if record.is_live(self.clock()) else None

    async def _members(self, user_id: str) -> set[str]:
        raw, _ = await self.driver.gets(self.user_key(user_id))
        members = json.loads(raw) if raw is not None else []
        return set(members) if isinstance(members, list) else set()

    async def _apply(
        self, key_hash: str, change: Change, base: SessionRecord | None
    ) -> SessionRecord | None:
        key = self.record_key(key_hash)
        if change.set_user and change.user_id is not None:
            await self._index(change.user_id, add=key_hash)
        for attempt in range(MAX_ATTEMPTS):
            if base is None or base.version < 0:
                raw, token = await self.driver.gets(key)
                if raw is None:
                    return None
                base = decode(key_hash, raw, token)
                if not base.is_live(self.clock()):
                    return None
            updated = apply_change(base, change)
            expire = expire_arg(updated.expires, self.clock())
            stored = await self.driver.cas(key, encode(updated), expire, base.version)
            if stored is None:
                return None  # deleted meanwhile: stay deleted
            if stored:
                updated.version = -1  # memcached does not tell the new token
                return updated
            base = None
            await self.driver.sleep(backoff(attempt))
        raise StoreError(f"session update kept conflicting after {MAX_ATTEMPTS} attempts")

    async def _delete(self, key_hash: str) -> None:
        key = self.record_key(key_hash)
        raw, _ = await self.driver.gets(key)
        await self.driver.delete(key)
        if raw is not None:
            user_id = decode(key_hash, raw).user_id
            if user_id is not None:
                await self._index(user_id, remove={key_hash})

    async def _index(
        self, user_id: str, add: str | None = None, remove: set[str] | None = None
    ) -> list[str]:
        key = self.user_key(user_id)
        for attempt in range(MAX_ATTEMPTS):
            raw, token = await self.driver.gets(key)
            members = set(json.loads(raw)) if raw is not None else set()
            if add is not None:
                members.add(add)
            members -= remove or set()
            value = json.dumps(sorted(members)).encode("ascii")
            if raw is None:
                if await self.driver.add(key, value, 0):
                    return sorted(members)
            elif await self.driver.cas(key, value, 0, token):
                return sorted(members)
            await self.driver.sleep(backoff(attempt))
        raise StoreError(f"per-user index update kept conflicting after {MAX_ATTEMPTS} attempts")

    async def _sessions_for(self, user_id: str) -> list[SessionInfo]:
        infos, dead = [], set()
        for key_hash in sorted(await self._members(user_id)):
            record = await self._load_record(key_hash)
            if record is None or record.user_id != user_id:
                dead.add(key_hash)
            else:
                infos.append(SessionInfo.from_record(record))
        if dead:
            await self._index(user_id, remove=dead)
        return sorted(infos, key=lambda info: info.created)
