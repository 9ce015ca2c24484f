"""The store face over a key-hash backend, async (source of the generated sync twin).

Backends speak key hashes; this face hashes the visitor's key once and routes
each operation to the backend of its colour, so a store built on a backend
exposes the whole :class:`~sessionary.stores.base.Store` interface without
repeating it. ``stores._composed.ComposedStore`` joins this face and its twin.
"""

from __future__ import annotations

from typing import Any

from ..._keys import new_key
from ..base import (
    Change,
    Progress,
    SessionInfo,
    SessionRecord,
    Store,
    check_session_id,
    check_target,
    hash_key,
)


class AsyncComposed(Store):
    """Every operation, on the backend of this colour."""

    _async: Any

    async def load(self, key: str) -> SessionRecord | None:
        record: SessionRecord | None = await self._async.load(hash_key(key))
        return record

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        record.key_hash = hash_key(key)
        await self._async.save(record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        record: SessionRecord | None = await self._async.apply(hash_key(key), change, base)
        return record

    async def delete(self, key: str) -> None:
        await self._async.delete(hash_key(key))

    async def forget(self, session_id: str) -> None:
        await self._async.delete(check_session_id(session_id))

    async def exists(self, key: str) -> bool:
        return bool(await self._async.exists(hash_key(key)))

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return int(await self._async.clear_expired(batch_size, progress))

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        infos: list[SessionInfo] = await self._async.sessions_for(user_id)
        return infos

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        keep = hash_key(current) if current is not None else None
        return int(await self._async.revoke(user_id, check_target(target), keep))

    async def migrate(self) -> bool:
        # A backend with a schema creates it; one without answers a lookup, so
        # an unreachable server fails here rather than say "up to date".
        if hasattr(self._async, "migrate"):
            return bool(await self._async.migrate())
        await self.exists(new_key())
        return False

    async def aclose(self) -> None:
        await self._async.aclose()
