"""What a store is: records, change sets, and the interface every store implements.

A store knows records, nothing about requests. Every method exists twice:
``load`` for async code (ASGI) and ``load_sync`` for sync code (WSGI, CLI).
Stores receive the visitor's raw key and keep only :func:`hash_key` of it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from .._clock import Clock, from_timestamp, system_clock
from .._dbsc.binding import BINDING as DBSC_BINDING
from .._device import device_name
from .._keys import hash_key, new_key
from .._revocation import instrument

if TYPE_CHECKING:
    from .._config import SessionConfig

__all__ = [
    "ALL",
    "ALL_BUT_CURRENT",
    "Change",
    "Progress",
    "SessionInfo",
    "SessionRecord",
    "Store",
    "apply_change",
    "check_session_id",
    "check_target",
    "hash_key",
]

# Targets for Store.revoke besides a single session id.
ALL: Final = "all"
ALL_BUT_CURRENT: Final = "all-but-current"

Progress = Callable[[int], None]
"""Called by ``clear_expired`` with the running count of removed records."""

_SESSION_ID = re.compile(r"[0-9a-f]{64}\Z")


def check_session_id(session_id: str) -> str:
    """Return ``session_id`` if it is a session id (a key's SHA-256, 64 hex digits).

    Stores name files and cache keys after it: anything else (``"../x"``, a
    glob, a key prefix) is refused here, once for every store, with ``ValueError``.
    """
    if not isinstance(session_id, str) or _SESSION_ID.match(session_id) is None:
        raise ValueError(f"not a session id (64 lowercase hex digits): {session_id!r:.80}")
    return session_id


def check_target(target: str) -> str:
    """Return a ``revoke`` target: ``ALL``, ``ALL_BUT_CURRENT`` or a checked session id."""
    if target in (ALL, ALL_BUT_CURRENT):
        return target
    return check_session_id(target)


@dataclass(slots=True)
class SessionRecord:
    """One stored session.

    ``data`` maps each session key to the JSON text of its value (values are
    encoded once, when set, and decoded only when read). ``meta`` is the
    framework's own bookkeeping (expiry policy, credential hash, user agent,
    client address), kept apart from user data. Times are epoch seconds.
    """

    key_hash: str
    data: dict[str, str]
    created: float
    last_seen: float
    expires: float
    user_id: str | None = None
    version: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def is_live(self, now: float) -> bool:
        return self.expires > now


@dataclass(slots=True)
class Change:
    """What one request did to a session, applied atomically to the current record.

    ``set`` holds encoded values for the keys written, ``delete`` the keys
    removed; ``clear`` drops every key before both are applied. ``meta``
    entries whose value is ``None`` are removed. ``user_id`` is applied only
    when ``set_user`` is true.
    """

    set: dict[str, str]
    delete: frozenset[str]
    last_seen: float
    expires: float
    clear: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    set_user: bool = False
    user_id: str | None = None


def apply_change(record: SessionRecord, change: Change) -> SessionRecord:
    """Return ``record`` with ``change`` applied and its version bumped."""
    data = {} if change.clear else dict(record.data)
    for name in change.delete:
        data.pop(name, None)
    data.update(change.set)
    meta = record.meta
    if change.meta:
        meta = dict(meta)
        for name, value in change.meta.items():
            if value is None:
                meta.pop(name, None)
            else:
                meta[name] = value
    # In the fields' order, not by keyword: keyword arguments cost this
    # eight-field constructor half as much again, on every write.
    return SessionRecord(
        record.key_hash,
        data,
        record.created,
        change.last_seen,
        change.expires,
        change.user_id if change.set_user else record.user_id,
        record.version + 1,
        meta,
    )


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A live session as the per-user index lists it: never its key."""

    session_id: str
    """The key's hash: names the session for ``revoke`` but cannot be used as a cookie."""
    user_id: str
    created: float
    last_seen: float
    expires: float
    user_agent: str | None = None
    ip: str | None = None
    device_bound: bool = False
    """Whether the session is bound to a device key (DBSC)."""

    @property
    def device(self) -> str:
        """A readable name for the device, from its user agent ("Firefox on Windows")."""
        return device_name(self.user_agent)

    @property
    def created_at(self) -> Any:
        return from_timestamp(self.created)

    @property
    def last_seen_at(self) -> Any:
        return from_timestamp(self.last_seen)

    @property
    def expires_at(self) -> Any:
        return from_timestamp(self.expires)

    @classmethod
    def from_record(cls, record: SessionRecord) -> SessionInfo:
        return cls(
            session_id=record.key_hash,
            user_id=record.user_id or "",
            created=record.created,
            last_seen=record.last_seen,
            expires=record.expires,
            user_agent=record.meta.get("ua"),
            ip=record.meta.get("ip"),
            device_bound=record.meta.get(DBSC_BINDING) is not None,
        )


class Store:
    """The interface of every store.

    No store writes both colours by hand. A store over a server is written
    once, async, in ``stores/_async/`` and its sync twin generated by
    ``scripts/unasync.py`` (a key-hash backend under
    :class:`~sessionary.stores._composed.ComposedStore`, or a whole store like
    ``CachedDatabaseStore``); a sync-only backend (files, SQLite) gets its
    async face from ``_adapters.InThread``; a store without I/O (memory,
    cookie) writes the ``_sync`` methods and inherits ``_adapters.InlineAsync``.
    ``clock`` returns epoch seconds; tests inject a fake one.
    """

    requires_secret: ClassVar[bool] = False
    """Whether :class:`~sessionary.SessionConfig` must carry a ``secret_key``."""
    client_side: ClassVar[bool] = False
    """Whether the record travels in the cookie itself (no server-side state)."""
    inline: ClassVar[bool] = False
    """Whether the sync API never waits (no I/O at all): the async edges and
    runners then call it directly, with no coroutine per operation."""
    has_revocation_feed: bool = False
    """Whether the store announces ended sessions to every process (:meth:`revocations`).

    Without a feed, the sessions of open WebSockets are polled instead
    (``SessionConfig.revocation_poll_interval``).
    """
    max_data_bytes: int | None = None
    """The most encoded session data (bytes, as the session counts them) the store can hold.

    ``None``: no limit below ``max_session_bytes``. A store with one (an item
    size, a cookie) sets it, and the session refuses a value at assignment
    rather than fail at save. An instance may set its own (the cookie
    store's depends on how many cookies it may use).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or system_clock

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Whatever ends a session (delete, forget, revoke) closes its live
        # WebSockets in this process, on every store, however it is called.
        instrument(cls)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    @property
    def max_user_id_length(self) -> int | None:
        """The longest user id (characters) the store can bind, or ``None``."""
        return None

    # -- what the client carries (the seam for client-side stores) --------------
    # A server-side store needs none of these overridden: the client carries
    # the session key. A client-side store (the cookie store) carries the
    # sealed record instead and overrides all four.

    def for_config(self, config: SessionConfig) -> Store:
        """The store ``config`` uses: this one, or a copy holding what it needs from ``config``.

        Never mutates ``self`` (one store may back several configs).
        """
        return self

    def carry(self, key: str, record: SessionRecord) -> str:
        """What the client carries after ``record`` was committed under ``key``."""
        return key

    def key_from(self, carried: str, record: SessionRecord) -> str:
        """The session key, given what the client carried and the record it loaded."""
        return carried

    def needs_reissue(self, record: SessionRecord) -> bool:
        """Whether the client's copy must be re-issued even if nothing changed."""
        return False

    # -- async ---------------------------------------------------------------

    async def load(self, key: str) -> SessionRecord | None:
        """Return the live record for ``key``, or ``None``."""
        raise NotImplementedError

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        """Write ``record`` whole; with ``must_create``, raise ``SessionKeyExists`` if taken."""
        raise NotImplementedError

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        """Apply ``change`` atomically to the current record and return the result.

        ``base`` is the record as loaded earlier in the request under ``key``:
        stores use its version for a one-round-trip fast path, and may use
        its key hash (blank in a record adopted from another key). Returns ``None``, writing
        nothing, when the record no longer exists (deleted or expired).
        """
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        raise NotImplementedError

    async def exists(self, key: str) -> bool:
        raise NotImplementedError

    async def forget(self, session_id: str) -> None:
        """Delete the record whose session id (the key's hash) is ``session_id``."""
        raise NotImplementedError

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        """Remove dead records in batches; return how many were removed."""
        raise NotImplementedError

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        """List ``user_id``'s live sessions, oldest first."""
        raise NotImplementedError

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        """End sessions of ``user_id``: one ``session_id``, ``ALL``, or ``ALL_BUT_CURRENT``.

        ``current`` is the raw key of the session to keep with ``ALL_BUT_CURRENT``.
        Returns how many sessions ended.
        """
        raise NotImplementedError

    async def migrate(self) -> bool:
        """Create the store's schema if it has one; safe to run again.

        Returns whether anything was created (``False``: it was up to date).
        A store without a schema answers one lookup instead, so an unreachable
        server raises :class:`~sessionary.exceptions.StoreUnavailable` here,
        never "up to date".
        """
        if not self.client_side:
            await self.exists(new_key())
        return False

    async def aclose(self) -> None:
        """Release connections; the store reconnects if used again."""

    def revocations(self) -> AsyncIterator[str | None]:
        """Subscribe, on the running loop, to the key hashes of ended sessions.

        Yields ``""`` once subscribed, then each key hash as it ends anywhere,
        and ``None`` after each idle second; raises ``StoreError`` when the
        subscription is lost. Only where :attr:`has_revocation_feed`.
        """
        raise NotImplementedError

    # -- sync ----------------------------------------------------------------

    def load_sync(self, key: str) -> SessionRecord | None:
        raise NotImplementedError

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        raise NotImplementedError

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        raise NotImplementedError

    def delete_sync(self, key: str) -> None:
        raise NotImplementedError

    def exists_sync(self, key: str) -> bool:
        raise NotImplementedError

    def forget_sync(self, session_id: str) -> None:
        raise NotImplementedError

    def clear_expired_sync(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        raise NotImplementedError

    def sessions_for_sync(self, user_id: str) -> list[SessionInfo]:
        raise NotImplementedError

    def revoke_sync(self, user_id: str, target: str, *, current: str | None = None) -> int:
        raise NotImplementedError

    def migrate_sync(self) -> bool:
        """Create the store's schema if it has one; safe to run again (see :meth:`migrate`)."""
        if not self.client_side:
            self.exists_sync(new_key())
        return False

    def close(self) -> None:
        """Release connections; the store reconnects if used again."""
