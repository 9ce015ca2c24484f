"""What both colours of ``CachedDatabaseStore`` share: its state, the cache
entry's layout, and the best-effort use of the cache (see ``cached_database``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from .._clock import Clock
from ..exceptions import SessionDataError, StoreError
from .base import Change, SessionRecord, Store

logger = logging.getLogger("sessionary")

# Metadata names the cache entries carry (the framework's own never start with "cache:").
LEASE = "cache:lease"
_HELD = "cache:record"
LEASE_SECONDS = 30.0
"""How long a fill may take before its lease lapses (the fill then writes nothing)."""
DEFAULT_CACHE_SECONDS = 300.0
"""How long a cached copy lives at most (``cache_seconds``): the bound on how long
a logout made while the cache was unreachable can be missed by it."""


@contextlib.contextmanager
def best_effort() -> Iterator[None]:
    """A cache that fails (down, timing out, refusing a value) is logged and bypassed."""
    try:
        yield
    except (StoreError, SessionDataError) as exc:
        logger.warning("session cache unavailable, using the database: %s", exc)


class CachedBase(Store):
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

    def __repr__(self) -> str:
        return f"CachedDatabaseStore({self.database!r}, cache={self.cache!r})"

    @property
    def max_user_id_length(self) -> int | None:
        return self.database.max_user_id_length

    def lease(self) -> SessionRecord:
        now = self.clock()
        return SessionRecord("", {}, now, now, now + LEASE_SECONDS, meta={LEASE: True})


def fill_change(record: SessionRecord, cache_until: float) -> Change:
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
            LEASE: None,
            _HELD: [record.created, record.user_id, record.version, record.expires],
        },
    )


def from_cache(cached: SessionRecord) -> SessionRecord:
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
