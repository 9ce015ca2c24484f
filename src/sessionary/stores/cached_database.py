"""``CachedDatabaseStore``: reads from a cache, writes through to a database.

``cached+<database url>?cache=<cache url>``, e.g.
``cached+postgresql://db/app?cache=redis://cache:6379/0``. The cache URL is
the last parameter and may be given raw or percent-encoded.

The database is the source of truth: every write goes there, then removes
the session from the cache; reads try the cache first and, on a miss, fill
it from the database. A cache that fails (down, timing out) is logged and
bypassed: sessions keep working from the database, never an error.

The cache never holds a record the database has deleted, nor an older state
than the database's once a write has finished, however slow cache commands
are. A fill is a compare-and-set, built from operations every store has: a
reader that misses first places a *lease* (a placeholder created with
``must_create``), then reads the database, then turns the lease into the
record with ``apply``, which writes nothing when the entry is gone. A
delete or a write that lands anywhere in between removes the lease, so the
fill's ``apply`` finds nothing and the stale copy is dropped; a write never
puts its own result in the cache, whose arrival could be delayed past a
later logout. Readers that meet a lease read the database. The record's
creation time, expiry, user id and version ride in the cache entry's
metadata (an ``apply`` cannot set them) and are restored on the way out.

One gap no protocol closes: a logout while the cache cannot be reached
leaves the cached copy in place. So a copy lives at most ``cache_seconds``
(300 s by default) however long the session: that bounds how long such a
missed logout can be served once the cache is back.
"""

from __future__ import annotations

from urllib.parse import unquote

from ..exceptions import ConfigurationError
from ._async.cached_database import AsyncCachedDatabase
from ._cached import DEFAULT_CACHE_SECONDS, LEASE_SECONDS
from ._sync.cached_database import SyncCachedDatabase

__all__ = ["DEFAULT_CACHE_SECONDS", "LEASE_SECONDS", "CachedDatabaseStore", "split_url"]


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


class CachedDatabaseStore(AsyncCachedDatabase, SyncCachedDatabase):
    """A database store fronted by a cache store (both any sessionary stores).

    Its operations are written once, async, in ``_async/cached_database.py``.
    """

    @classmethod
    def from_url(cls, url: str) -> CachedDatabaseStore:
        from . import from_url

        db_url, cache_url = split_url(url)
        return cls(from_url(db_url), from_url(cache_url))
