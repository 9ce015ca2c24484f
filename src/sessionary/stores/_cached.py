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


_MARK = "cache:v"
"""A cache entry's meta name ``cache:v<version>`` records that the database
record of that version was written into the entry (see ``cached_database``)."""
_SWEEP = 16
"""How many older version marks a write removes at most (those it replaces)."""


def _mark(version: int) -> str:
    return f"{_MARK}{version}"


def _marks(meta: dict[str, object]) -> list[int]:
    marks = []
    for name in meta:
        if name.startswith(_MARK):
            with contextlib.suppress(ValueError):
                marks.append(int(name[len(_MARK) :]))
    return marks


def _held_version(meta: dict[str, object]) -> int | None:
    held = meta.get(_HELD)
    if not isinstance(held, list) or len(held) != 4:
        return None
    try:
        return int(held[2])
    except (TypeError, ValueError):
        return None


def write_change(
    record: SessionRecord,
    cache_until: float,
    *,
    fill: bool = False,
    dropped: tuple[str, ...] = (),
    replaces: int | None = None,
) -> Change:
    """The change that turns a cache entry into ``record``, marked with its version.

    It writes nothing where the entry is gone (an ``apply`` never creates).
    A fill (``fill``) also ends the lease it lands on; a write leaves a lease
    in place, for its filler to settle. ``dropped`` are the meta names the
    write removed, ``replaces`` the version it was based on: the marks from
    that version up to its own are cleared, since its own supersedes them.
    The cached copy expires at ``cache_until`` or with the session, whichever
    is first.
    """
    version = record.version
    meta: dict[str, object] = {**record.meta, **dict.fromkeys(dropped)}
    if replaces is not None:
        meta.update(dict.fromkeys(map(_mark, range(max(replaces, version - _SWEEP), version))))
    meta[_mark(version)] = True
    meta[_HELD] = [record.created, record.user_id, record.version, record.expires]
    if fill:
        meta[LEASE] = None
    return Change(
        set=dict(record.data),
        delete=frozenset(),
        last_seen=record.last_seen,
        expires=min(record.expires, cache_until),
        clear=True,
        meta=meta,
    )


def fill_change(record: SessionRecord, cache_until: float) -> Change:
    """The change that turns a lease into ``record`` (and does nothing if the lease is gone)."""
    return write_change(record, cache_until, fill=True)


def expiry_change(now: float, version: int | None = None) -> Change:
    """The change that evicts an entry: empty, expired at once, and a lease.

    One ``apply``, where the cache store's ``delete`` may also update indexes
    and announce a revocation. A write landing on it before the entry is
    gone keeps it a lease (served by no one); ``version``, the version whose
    write evicts, marks it so that an older fill landing on it is refused too.
    """
    meta: dict[str, object] = {LEASE: True}
    if version is not None:
        meta[_mark(version)] = True
    return Change(set={}, delete=frozenset(), last_seen=now, expires=now, clear=True, meta=meta)


def usable(cached: SessionRecord) -> bool:
    """Whether a cache entry may be served: not a lease, and written by the newest
    version marked in it (an older write that landed last is not served)."""
    if LEASE in cached.meta:
        return False
    marks = _marks(cached.meta)
    if not marks:
        return True  # written by an earlier version of this store, which marked nothing
    held = _held_version(cached.meta)
    return held is not None and held >= max(marks)


def lapsed(cached: SessionRecord, now: float) -> bool:
    """Whether ``cached`` is a lease older than a fill may take (its filler is gone)."""
    return LEASE in cached.meta and cached.created + LEASE_SECONDS < now


def newest_mark(cached: SessionRecord) -> int | None:
    marks = _marks(cached.meta)
    return max(marks) if marks else None


def settled(written: SessionRecord, record: SessionRecord) -> bool:
    """Whether the entry ``written`` (an ``apply``'s result) holds exactly ``record``.

    A lease holds nothing yet (its filler settles it). Otherwise no newer
    version may have been marked, and the entry's meta names must be the
    record's (one the database dropped may linger where an older copy was).
    """
    if LEASE in written.meta:
        return True
    if max(_marks(written.meta), default=record.version) != record.version:
        return False
    names = {name for name in written.meta if not name.startswith("cache:")}
    return names == record.meta.keys()


def from_cache(cached: SessionRecord) -> SessionRecord:
    held = cached.meta.get(_HELD)
    if not isinstance(held, list) or len(held) != 4:
        return cached  # written whole by an earlier version: already exact
    meta = {name: value for name, value in cached.meta.items() if not name.startswith("cache:")}
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
