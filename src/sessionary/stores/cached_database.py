"""``CachedDatabaseStore``: reads from a cache, writes through to a database.

``cached+<database url>?cache=<cache url>``, e.g.
``cached+postgresql://db/app?cache=redis://cache:6379/0``. The cache URL is
the last parameter and may be given raw or percent-encoded.

The database is the source of truth: every write goes there first, then
into the cache (a *write-through*); reads try the cache first and, on a
miss, fill it from the database. A cache that fails (down, timing out,
refusing a value) is logged and bypassed: sessions keep working from the
database, never an error. A write passes the record it loaded (the
database's, or the cache's exact copy of one of its versions) as the
database's ``base``, so the database checks that version and applies the
change in one statement. A request cycle on a cached session is then one
cache read, one database write and one cache write.

The cache never serves a record the database has deleted, nor an older
state than the database's once a write has finished, however slow cache
commands are. Everything is built from operations every store has:

- A fill is a compare-and-set. A reader that misses first places a *lease*
  (a placeholder created with ``must_create``), then reads the database,
  then turns the lease into the record with ``apply``, which writes nothing
  when the entry is gone. Readers that meet a lease read the database.
- A write replaces the cached copy with its result by ``apply`` too, so it
  never creates an entry: a delete (which removes the entry) is never
  undone by a write that lands after it, however late. Landing on a lease,
  the write leaves it a lease, for its filler to settle.
- Each fill and write marks the entry with its version (meta
  ``cache:v<version>``; marks of the versions it supersedes are removed).
  An entry is served only while the version it holds is the newest marked
  in it: an older write or fill that lands after a newer one leaves an
  entry no one is served from, and its writer, seeing the newer mark in
  what its ``apply`` returned, expires it. A write the cache refuses
  expires the older copy in the same way (an ``apply`` that empties the
  entry, makes it a lease and expires it at once: cheaper than the cache
  store's ``delete``, which also keeps indexes and announces revocations).
- A delete removes the entry with the cache store's ``delete``, and so does
  a whole-record ``save`` over an existing session (its version may not grow).

The record's creation time, expiry, user id and version ride in the cache
entry's metadata (an ``apply`` cannot set them) and are restored on the way
out.

One gap no protocol closes: a logout (or a write) while the cache cannot be
reached leaves the older cached copy in place. So a copy lives at most
``cache_seconds`` (300 s by default) however long the session: that bounds
how long such a missed logout can be served once the cache is back.
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
