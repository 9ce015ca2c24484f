"""``memory://``: records in a dict, for tests and single-process development."""

from __future__ import annotations

import threading

from .._clock import Clock
from ..exceptions import SessionKeyExists
from ._adapters import InlineAsync
from .base import (
    ALL,
    ALL_BUT_CURRENT,
    Change,
    Progress,
    SessionInfo,
    SessionRecord,
    apply_change,
    check_session_id,
    check_target,
    hash_key,
)

__all__ = ["MemoryStore"]


class MemoryStore(InlineAsync):
    """Keeps records in process memory. Thread-safe; nothing survives a restart.

    Its operations do no I/O and never wait: the async methods are the sync
    ones (:class:`~sessionary.stores._adapters.InlineAsync`).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self._records: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        return cls()

    def load_sync(self, key: str) -> SessionRecord | None:
        record = self._records.get(hash_key(key))
        if record is None or not record.is_live(self.clock()):
            return None
        return record

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        digest = hash_key(key)
        record.key_hash = digest
        with self._lock:
            current = self._records.get(digest)
            if must_create and current is not None and current.is_live(self.clock()):
                raise SessionKeyExists("session key already exists")
            self._records[digest] = record

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        # A base loaded under ``key`` carries its hash: no second SHA-256 in a
        # request. A record adopted from another key has a blank one.
        digest = base.key_hash if base is not None and base.key_hash else hash_key(key)
        with self._lock:
            current = self._records.get(digest)
            if current is None or not current.is_live(self.clock()):
                return None
            updated = apply_change(current, change)
            self._records[digest] = updated
            return updated

    def delete_sync(self, key: str) -> None:
        with self._lock:
            self._records.pop(hash_key(key), None)

    def forget_sync(self, session_id: str) -> None:
        check_session_id(session_id)
        with self._lock:
            self._records.pop(session_id, None)

    def exists_sync(self, key: str) -> bool:
        return self.load_sync(key) is not None

    def clear_expired_sync(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        now = self.clock()
        removed = 0
        while True:
            with self._lock:
                dead = [h for h, r in self._records.items() if not r.is_live(now)][:batch_size]
                for digest in dead:
                    del self._records[digest]
            removed += len(dead)
            if progress is not None and dead:
                progress(removed)
            if len(dead) < batch_size:
                return removed

    def sessions_for_sync(self, user_id: str) -> list[SessionInfo]:
        now = self.clock()
        with self._lock:
            records = [r for r in self._records.values() if r.user_id == user_id and r.is_live(now)]
        return [SessionInfo.from_record(r) for r in sorted(records, key=lambda r: r.created)]

    def revoke_sync(self, user_id: str, target: str, *, current: str | None = None) -> int:
        check_target(target)
        keep = hash_key(current) if current is not None and target == ALL_BUT_CURRENT else None
        with self._lock:
            doomed = [
                digest
                for digest, record in self._records.items()
                if record.user_id == user_id
                and (target in (ALL, ALL_BUT_CURRENT) or digest == target)
                and digest != keep
            ]
            for digest in doomed:
                del self._records[digest]
        return len(doomed)
