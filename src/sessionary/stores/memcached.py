"""``MemcachedStore``: one or several Memcached servers, native TTLs, CAS.

``memcached://host:port[,host:port…]`` (``?prefix=`` sets the key prefix).
Keys spread over the servers by rendezvous hashing; sync code talks to them
through pymemcache, async code through aiomcache. The operations are written
once, async, in ``_async/memcached.py`` (the sync twin is generated); the
drivers differ only in ``_drivers.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._clock import Clock
from ..exceptions import MissingDependency

# The one guard for the extra's drivers (aiomcache, pymemcache), imported by these.
try:
    from ._async.memcached import AsyncMemcachedBackend
    from ._sync.memcached import SyncMemcachedBackend
except ImportError as exc:  # exercised by tests/test_cli.py with the drivers hidden
    raise MissingDependency("MemcachedStore (pymemcache, aiomcache)", "memcached") from exc

from ._composed import ComposedStore
from ._deadline import parse_seconds
from ._memcached import DEFAULT_PREFIX, ITEM_LIMIT, Router, parse_servers

__all__ = ["MemcachedStore"]

DEFAULT_TIMEOUT = 2.0


class MemcachedStore(ComposedStore):
    """Sessions in Memcached.

    ``timeout`` (seconds, default 2; ``?timeout=`` in the URL) bounds
    connecting and every command; a command cut short closes its connection.
    """

    max_data_bytes: int | None = (ITEM_LIMIT - 16 * 1024) // 2
    """A session this size (as the session counts it) always fits one item (1 MiB).

    Values are ASCII text (one byte a character), and the record nests each
    one in a JSON string, where a quote or backslash takes two bytes: so half
    the item, less 16 KiB for the record's times, metadata and user id.
    """

    def __init__(
        self,
        url: str = "memcached://127.0.0.1:11211",
        *,
        timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.url = url
        query = parse_qs(urlsplit(url).query)
        self.prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
        timeout = (
            timeout or parse_seconds("timeout", query.get("timeout", [None])[-1]) or DEFAULT_TIMEOUT
        )
        self.timeout = timeout
        router = Router(parse_servers(url))
        self._async = AsyncMemcachedBackend(self.prefix, self._now, router, timeout)
        self._sync = SyncMemcachedBackend(self.prefix, self._now, router, timeout)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemcachedStore:
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"MemcachedStore({self.url!r})"
