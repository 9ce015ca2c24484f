"""``RedisStore``: Redis, Redis Cluster or Sentinel, with native TTLs.

``redis://host:port/db`` and ``rediss://`` (TLS) name one server;
``redis+cluster://h:p,h:p`` a cluster (any of its nodes);
``redis+sentinel://h:p,h:p/service/db`` the master Sentinel names.
``?prefix=`` sets the key prefix (default ``sessionary:``). Loads are one
``HGETALL``; saves one ``EVALSHA`` that applies the request's change set
atomically (see ``_redis.py`` for the layout and scripts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .._clock import Clock
from ..exceptions import ConfigurationError, MissingDependency
from ._composed import ComposedStore
from ._redis import parse_replicas, parse_url, revoked_channel

try:
    from ._async.redis import AsyncRedisBackend, translate_errors
    from ._sync.redis import SyncRedisBackend
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("RedisStore (redis-py)", "redis") from exc

__all__ = ["RedisStore"]

DEFAULT_TIMEOUT = 2.0


class RedisStore(ComposedStore):
    """Sessions as Redis hashes with native expiry.

    ``timeout`` (seconds, default 2; ``?timeout=`` in the URL) bounds
    connecting and every command, so a server that stops answering fails the
    request with ``StoreUnavailable`` instead of hanging a worker; a command
    cut short closes its connection. ``socket_timeout`` and
    ``socket_connect_timeout`` set the two apart; ``client_options`` go to
    redis-py's client constructor.

    ``wait_replicas`` (``?wait_replicas=`` in the URL; 0, the default, for
    none) has every write wait until that many replicas acknowledged it
    (Redis ``WAIT``, for half the command timeout), so a failover cannot
    lose an acknowledged write to asynchronous replication; fewer in time is
    ``StoreUnavailable``. One more round trip per write. Not on a cluster.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        timeout: float | None = None,
        socket_timeout: float | None = None,
        socket_connect_timeout: float | None = None,
        client_options: dict[str, Any] | None = None,
        wait_replicas: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.url = url
        target = parse_url(url)
        if wait_replicas is not None:
            target["wait_replicas"] = parse_replicas(wait_replicas)
        if target["wait_replicas"] and target["kind"] == "cluster":
            raise ConfigurationError(
                "store", "wait_replicas is not supported on redis+cluster (WAIT is per node)"
            )
        self.prefix = target["prefix"]
        self.timeout = timeout or target["timeout"] or DEFAULT_TIMEOUT
        options: dict[str, Any] = {
            "socket_timeout": socket_timeout or self.timeout,
            "socket_connect_timeout": socket_connect_timeout or self.timeout,
            **(client_options or {}),
            # Replies arrive as str, decoded by the parser (hiredis: in C), not
            # field by field here; surrogatepass reads back a key name holding a
            # lone surrogate (``_redis._field``). Ours: the records need them.
            "decode_responses": True,
            "encoding_errors": "surrogatepass",
        }
        if target["kind"] == "single":
            options.setdefault("health_check_interval", 30)
        self._async = AsyncRedisBackend(target, self._now, options)
        self.has_revocation_feed = target["kind"] != "cluster"
        self._sync = SyncRedisBackend(target, self._now, options)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"RedisStore({self.url.split('@')[-1]!r})"

    async def revocations(self) -> AsyncIterator[str | None]:
        """The key hashes of deleted records, as published on ``<prefix>revoked``.

        Every delete publishes (on one server or Sentinel: a cluster's open
        WebSockets are polled instead); a lost connection raises ``StoreUnavailable``.
        """
        pubsub = self._async.client().pubsub()
        try:
            with translate_errors():
                await pubsub.subscribe(revoked_channel(self.prefix))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                    if message is None:
                        yield None
                    elif message["type"] == "subscribe":
                        yield ""
                    elif message["type"] == "message":
                        data = message["data"]
                        yield data.decode() if isinstance(data, bytes) else str(data)
        finally:
            await pubsub.aclose()
