"""A store made of an async backend and its generated sync twin.

Backends speak key hashes; this class hashes the visitor's key once and
routes each method to the right twin, so every such store exposes the whole
:class:`~sessionary.stores.base.Store` interface without repeating it.
"""

from __future__ import annotations

from typing import Any

from .._clock import Clock
from .base import (
    Change,
    Progress,
    SessionInfo,
    SessionRecord,
    Store,
    check_session_id,
    check_target,
    hash_key,
)


def _keep(current: str | None) -> str | None:
    return hash_key(current) if current is not None else None


class ComposedStore(Store):
    """Subclasses set ``self._async`` and ``self._sync`` in ``__init__``."""

    _async: Any
    _sync: Any

    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)

    def _now(self) -> float:
        # Backends read the time through this, so replacing ``store.clock``
        # after construction (as tests do) reaches them.
        return self.clock()

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
        return int(await self._async.revoke(user_id, check_target(target), _keep(current)))

    async def aclose(self) -> None:
        await self._async.aclose()

    def load_sync(self, key: str) -> SessionRecord | None:
        record: SessionRecord | None = self._sync.load(hash_key(key))
        return record

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        record.key_hash = hash_key(key)
        self._sync.save(record, must_create=must_create)

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        record: SessionRecord | None = self._sync.apply(hash_key(key), change, base)
        return record

    def delete_sync(self, key: str) -> None:
        self._sync.delete(hash_key(key))

    def forget_sync(self, session_id: str) -> None:
        self._sync.delete(check_session_id(session_id))

    def exists_sync(self, key: str) -> bool:
        return bool(self._sync.exists(hash_key(key)))

    def clear_expired_sync(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return int(self._sync.clear_expired(batch_size, progress))

    def sessions_for_sync(self, user_id: str) -> list[SessionInfo]:
        infos: list[SessionInfo] = self._sync.sessions_for(user_id)
        return infos

    def revoke_sync(self, user_id: str, target: str, *, current: str | None = None) -> int:
        return int(self._sync.revoke(user_id, check_target(target), _keep(current)))

    def close(self) -> None:
        self._sync.close()
