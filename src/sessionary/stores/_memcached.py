"""The Memcached side of ``MemcachedStore`` that needs no I/O: routing, keys, the record codec.

The operations are written once, async, in ``_async/memcached.py`` (the sync
twin is generated); the drivers (aiomcache, pymemcache) differ only in
``_drivers.py``. Keys are routed to servers by rendezvous hashing over
``host:port`` names, the same in both colours.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from typing import Any

from pymemcache.client.rendezvous import RendezvousHash

from ..exceptions import ConfigurationError, CorruptRecord, SessionTooLarge
from .base import SessionRecord

DEFAULT_PREFIX = "sessionary:"
MAX_ATTEMPTS = 50
# Memcached reads an expiry above 30 days as a unix time, not a duration.
_RELATIVE_LIMIT = 30 * 24 * 3600
ITEM_LIMIT = 1024 * 1024
"""Memcached's default largest item (``-I 1m``): key, header and value together."""
_ITEM_OVERHEAD = 1024  # the item header, a key of at most 250 bytes, the CAS token


def parse_servers(url: str) -> list[tuple[str, int]]:
    """``memcached://h:p[,h:p…]`` -> [(host, port), …]."""
    netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    servers = []
    for item in netloc.split(","):
        host, _, port = item.strip().partition(":")
        if not host:
            raise ConfigurationError("store", f"no host in {url!r}")
        try:
            servers.append((host, int(port or 11211)))
        except ValueError:
            raise ConfigurationError("store", f"bad port in {url!r}") from None
    return servers


class Router:
    """Which server holds a key: rendezvous hashing over ``host:port`` names."""

    def __init__(self, servers: list[tuple[str, int]]) -> None:
        self.names = [f"{host}:{port}" for host, port in servers]
        self._hash = RendezvousHash(nodes=list(self.names))

    def node(self, key: bytes) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return str(self._hash.get_node(key.decode("ascii")))


def expire_arg(expires: float, now: float) -> int:
    ttl = max(1, int(expires - now + 0.999))
    if ttl > _RELATIVE_LIMIT:
        return int(time.time()) + ttl
    return ttl


def encode(record: SessionRecord) -> bytes:
    body = json.dumps(
        [
            record.data,
            record.meta,
            record.created,
            record.last_seen,
            record.expires,
            record.user_id,
        ],
        separators=(",", ":"),
        ensure_ascii=True,  # any str encodes: a name holding a lone surrogate too
    ).encode("utf-8")
    if len(body) > ITEM_LIMIT - _ITEM_OVERHEAD:
        # A data error, not an outage: memcached would refuse the item (SERVER_ERROR).
        raise SessionTooLarge(len(body), ITEM_LIMIT - _ITEM_OVERHEAD)
    return body


def decode(key_hash: str, raw: bytes, token: Any = -1) -> SessionRecord:
    try:
        data, meta, created, last_seen, expires, user_id = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(meta, dict):
            raise TypeError("wrong shape")
    except (ValueError, TypeError) as exc:
        raise CorruptRecord(f"session record {key_hash[:12]}… is not valid: {exc}") from None
    return SessionRecord(
        key_hash=key_hash,
        data=data,
        created=float(created),
        last_seen=float(last_seen),
        expires=float(expires),
        user_id=user_id,
        version=int(token) if token is not None else -1,
        meta=meta,
    )


def backoff(attempt: int) -> float:
    """Seconds to wait after losing a CAS race: jittered, capped, exponential."""
    return random.uniform(0, min(0.02, 0.0005 * 2**attempt))


class Keys:
    """A backend's key names (both colours): records by key hash, indexes by user."""

    def __init__(self, prefix: str, clock: Callable[[], float]) -> None:
        self.prefix = prefix
        self.clock = clock

    def record_key(self, key_hash: str) -> bytes:
        return f"{self.prefix}{key_hash}".encode("ascii")

    def user_key(self, user_id: str) -> bytes:
        # User ids may hold spaces or be long: memcached keys may not.
        digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()
        return f"{self.prefix}user:{digest}".encode("ascii")
