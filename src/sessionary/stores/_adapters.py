"""The two adapters that give a sync-only implementation its async face.

- :class:`InThread`: a sync backend (the file store's, SQLite's) seen as an
  async one. Each operation is one hop to a worker thread, so the event loop
  never blocks on a disk.
- :class:`InlineAsync`: a store that does no I/O (memory, cookie): its async
  methods call the sync ones directly, with no thread hop.

Every other store is written once, async, in ``_async/`` and generated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .base import Change, Progress, SessionInfo, SessionRecord, Store

__all__ = ["InThread", "InlineAsync"]


class InThread:
    """The async twin of a sync backend: every call, whole, in a worker thread.

    ``aclose`` runs the backend's ``close``.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.backend, "close" if name == "aclose" else name)

        async def in_thread(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        setattr(self, name, in_thread)  # made once: later lookups find it directly
        return in_thread


class InlineAsync(Store):
    """A store whose operations never wait: the async methods are the sync ones.

    Such a store is :attr:`~Store.inline`, and the runners skip its async face
    altogether, unless a subclass gives an async method its own body (a test
    double that waits, say): then it is run as written.
    """

    inline = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if any(name in cls.__dict__ for name in _ASYNC_FACE):
            cls.inline = False

    async def load(self, key: str) -> SessionRecord | None:
        return self.load_sync(key)

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        self.save_sync(key, record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        return self.apply_sync(key, change, base)

    async def delete(self, key: str) -> None:
        self.delete_sync(key)

    delete.__reports_revocation__ = True  # type: ignore[attr-defined]  # delete_sync reports

    async def forget(self, session_id: str) -> None:
        self.forget_sync(session_id)

    forget.__reports_revocation__ = True  # type: ignore[attr-defined]  # forget_sync reports

    async def exists(self, key: str) -> bool:
        return self.exists_sync(key)

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return self.clear_expired_sync(batch_size=batch_size, progress=progress)

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        return self.sessions_for_sync(user_id)

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        return self.revoke_sync(user_id, target, current=current)

    revoke.__reports_revocation__ = True  # type: ignore[attr-defined]  # revoke_sync reports

    async def migrate(self) -> bool:
        return self.migrate_sync()

    async def aclose(self) -> None:
        self.close()


_ASYNC_FACE = frozenset(
    name
    for name, value in vars(InlineAsync).items()
    if name not in ("aclose", "migrate") and asyncio.iscoroutinefunction(value)
)
