"""The Memcached side of ``MemcachedStore``, without I/O.

Every operation is a generator of memcached commands; the sync driver
(pymemcache) and the async driver (aiomcache) only execute what it yields,
so the logic, the retry loops and the record codec exist once.

Commands are tuples ``(verb, key, *args)`` with verbs get, gets, add, set,
cas and delete. Keys are routed to servers by rendezvous hashing over
``host:port`` names, the same on both drivers.

A record's version is memcached's CAS token, captured when it is read
(``gets``): an ``apply`` with that base costs one ``cas`` round trip; when
the token is stale (another request wrote first) it re-reads and re-applies,
a bounded number of times. A record that is gone is never recreated.

The per-user index is the authority on a user's sessions, because memcached
may evict it like any item: a session bound to a user is live only while
its user's index lists it. So an evicted index cannot make "sign out
everywhere" miss a session (the sessions it listed are over already: that
user signs in again), ``revoke`` ends exactly what the index lists, and a
listing never omits a live session. Binding adds to the index before the
record is written, so a session is never live unlisted. Each load of a
user's session reads the index, which keeps it as recently used as the
user's most recent session in memcached's LRU.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Generator
from typing import Any

from pymemcache.client.rendezvous import RendezvousHash

from ..exceptions import (
    ConfigurationError,
    CorruptRecord,
    SessionKeyExists,
    SessionTooLarge,
    StoreError,
)
from .base import ALL, ALL_BUT_CURRENT, Change, SessionInfo, SessionRecord, apply_change

Command = tuple[Any, ...]
Steps = Generator[Command, Any, Any]

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


def _backoff(attempt: int) -> Steps:
    # Jittered, capped exponential backoff spreads writers that lost a CAS race.
    yield ("sleep", b"", random.uniform(0, min(0.02, 0.0005 * 2**attempt)))


class Logic:
    """The store's operations as command generators."""

    def __init__(self, prefix: str, clock: Any) -> None:
        self.prefix = prefix
        self.clock = clock

    def record_key(self, key_hash: str) -> bytes:
        return f"{self.prefix}{key_hash}".encode("ascii")

    def user_key(self, user_id: str) -> bytes:
        # User ids may hold spaces or be long: memcached keys may not.
        digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()
        return f"{self.prefix}user:{digest}".encode("ascii")

    def load(self, key_hash: str) -> Steps:
        record = yield from self._load_record(key_hash)
        if record is None or record.user_id is None:
            return record
        if key_hash not in (yield from self._members(record.user_id)):
            return None  # revoked, or its user's index was evicted: over either way
        return record

    def _load_record(self, key_hash: str) -> Steps:
        raw, token = yield ("gets", self.record_key(key_hash))
        if raw is None:
            return None
        record = decode(key_hash, raw, token)
        return record if record.is_live(self.clock()) else None

    def _members(self, user_id: str) -> Steps:
        raw, _ = yield ("gets", self.user_key(user_id))
        members = json.loads(raw) if raw is not None else []
        return set(members) if isinstance(members, list) else set()

    def save(self, record: SessionRecord, must_create: bool) -> Steps:
        key = self.record_key(record.key_hash)
        if record.user_id is not None:  # listed first: never live unlisted
            yield from self._index(record.user_id, add=record.key_hash)
        expire = expire_arg(record.expires, self.clock())
        if must_create:
            if not (yield ("add", key, encode(record), expire)):
                raise SessionKeyExists("session key already exists")
        else:
            yield ("set", key, encode(record), expire)

    def apply(self, key_hash: str, change: Change, base: SessionRecord | None) -> Steps:
        key = self.record_key(key_hash)
        if change.set_user and change.user_id is not None:
            yield from self._index(change.user_id, add=key_hash)
        for attempt in range(MAX_ATTEMPTS):
            if base is None or base.version < 0:
                raw, token = yield ("gets", key)
                if raw is None:
                    return None
                base = decode(key_hash, raw, token)
                if not base.is_live(self.clock()):
                    return None
            updated = apply_change(base, change)
            stored = yield (
                "cas",
                key,
                encode(updated),
                expire_arg(updated.expires, self.clock()),
                base.version,
            )
            if stored is None:
                return None  # deleted meanwhile: stay deleted
            if stored:
                updated.version = -1  # memcached does not tell the new token
                return updated
            base = None
            yield from _backoff(attempt)
        raise StoreError(f"session update kept conflicting after {MAX_ATTEMPTS} attempts")

    def delete(self, key_hash: str) -> Steps:
        key = self.record_key(key_hash)
        raw, _ = yield ("gets", key)
        yield ("delete", key)
        if raw is not None:
            user_id = decode(key_hash, raw).user_id
            if user_id is not None:
                yield from self._index(user_id, remove={key_hash})

    def _index(self, user_id: str, add: str | None = None, remove: set[str] | None = None) -> Steps:
        key = self.user_key(user_id)
        for attempt in range(MAX_ATTEMPTS):
            raw, token = yield ("gets", key)
            members = set(json.loads(raw)) if raw is not None else set()
            if add is not None:
                members.add(add)
            members -= remove or set()
            value = json.dumps(sorted(members)).encode("ascii")
            if raw is None:
                if (yield ("add", key, value, 0)):
                    return sorted(members)
            elif (yield ("cas", key, value, 0, token)):
                return sorted(members)
            yield from _backoff(attempt)
        raise StoreError(f"per-user index update kept conflicting after {MAX_ATTEMPTS} attempts")

    def sessions_for(self, user_id: str) -> Steps:
        infos, dead = [], set()
        for key_hash in sorted((yield from self._members(user_id))):
            record = yield from self._load_record(key_hash)
            if record is None or record.user_id != user_id:
                dead.add(key_hash)
            else:
                infos.append(SessionInfo.from_record(record))
        if dead:
            yield from self._index(user_id, remove=dead)
        return sorted(infos, key=lambda info: info.created)

    def revoke(self, user_id: str, target: str, keep: str | None) -> Steps:
        ended = 0
        for info in (yield from self.sessions_for(user_id)):
            if target not in (ALL, ALL_BUT_CURRENT) and info.session_id != target:
                continue
            if target == ALL_BUT_CURRENT and info.session_id == keep:
                continue
            yield from self.delete(info.session_id)
            ended += 1
        return ended
