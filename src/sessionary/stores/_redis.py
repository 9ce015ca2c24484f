"""The Redis side of ``RedisStore``, without I/O: layout, scripts, record codec.

A session is one Redis hash at ``<prefix><key hash>``: its user data in
fields ``d:<name>`` (each the JSON text of one value, never decoded in
Redis), the framework's metadata in ``m:<name>``, and the record's own
fields ``_c`` (created), ``_s`` (last seen), ``_e`` (expires), ``_u`` (user
id) and ``_v`` (version). The hash carries a native TTL. Because values stay
opaque strings, the apply script merges a change set field by field: no JSON
is parsed in Lua, so nothing is re-encoded (cjson would round floats).

A user's sessions are indexed in a set ``<prefix>user:<user id>`` of key
hashes. The index is updated by separate commands, never inside the
scripts, so every script touches one key and runs unchanged on Redis
Cluster (where a session and its user's index live in different slots). The
index is advisory: listing checks each member and prunes dead ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..exceptions import ConfigurationError, CorruptRecord
from ._deadline import parse_seconds
from .base import Change, SessionRecord

DEFAULT_PREFIX = "sessionary:"


class AsyncCommandDeadline:
    """Bounds each of the async backend's operations with one ``asyncio.timeout``.

    redis-py's ``socket_timeout`` bounds every read and write itself, but its
    asyncio client wraps each write in ``asyncio.wait_for``, which on Python
    3.11 runs the write as a task of its own: two tasks a request, and the
    event-loop turns they cost (an ASGI request on loopback, median of 9
    interleaved rounds: 781 µs with it, 715 µs without). One timer per
    operation bounds the same wait: the async client is made without a
    ``socket_timeout``, and a command cut short by the deadline closes its
    connection (redis-py drops a connection on any interruption), which then
    never serves another request. Expiry raises ``TimeoutError``.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.seconds: float | None = options.get("socket_timeout")

    def client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "socket_timeout": None}

    def __call__(self) -> asyncio.Timeout:
        return asyncio.timeout(self.seconds)


class SyncCommandDeadline:
    """The blocking client bounds each read and write with its ``socket_timeout``."""

    def __init__(self, options: dict[str, Any]) -> None:
        """Nothing to keep: the client is made with the timeouts in ``options``."""

    def client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def __call__(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


# Lua's unpack() refuses more than ~8000 values (a session of about 4,000 keys),
# so the scripts pass field lists to HSET/HDEL in chunks of 1000 (500 pairs).

# KEYS[1] the record; ARGV[1] "1" = must create, ARGV[2] TTL in ms, then field/value pairs.
SAVE = """
if ARGV[1] == "1" and redis.call("EXISTS", KEYS[1]) == 1 then return 0 end
redis.call("DEL", KEYS[1])
for j = 3, #ARGV, 1000 do
  redis.call("HSET", KEYS[1], unpack(ARGV, j, math.min(j + 999, #ARGV)))
end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] the record; ARGV[1] the header "<TTL ms> <clear 0|1> <base version>
# <#deletes> <last seen> <expires>" (one argument, not six: redis-py encodes
# each argument in Python), then the deletes, then field/value pairs (maybe
# none). Returns false when the record is gone (never resurrected); the new
# version when the caller's base was current (it can apply the change
# locally); else the whole new hash, flattened. PEXPIRE is both the TTL and
# the existence check (0: no such key, nothing written); HINCRBY both reads
# and bumps "_v" (every record has it, so no delete below can empty the hash
# and drop its TTL); "_s" and "_e" ride on the first HSET. Three commands
# for a plain change (PEXPIRE, HINCRBY, HSET), and a number, not a table, for
# its reply: 13-17% less server time than HGET, HSET with "_v", PEXPIRE and a
# one-element table (INFO commandstats on Redis 7.0, one field set, 5,000
# calls a round, median of 21 interleaved rounds: 5.9 against 5.0 µs).
APPLY = """
local ttl, clear, base, n, seen, expires =
  string.match(ARGV[1], "^(%d+) ([01]) (%-?%d+) (%d+) (%S+) (%S+)$")
if redis.call("PEXPIRE", KEYS[1], ttl) == 0 then return false end
local version = redis.call("HINCRBY", KEYS[1], "_v", 1)
if clear == "1" then
  local data = {}
  for _, field in ipairs(redis.call("HKEYS", KEYS[1])) do
    if string.sub(field, 1, 2) == "d:" then data[#data + 1] = field end
  end
  for j = 1, #data, 1000 do
    redis.call("HDEL", KEYS[1], unpack(data, j, math.min(j + 999, #data)))
  end
end
local i = 2
n = tonumber(n)
for j = i, i + n - 1, 1000 do
  redis.call("HDEL", KEYS[1], unpack(ARGV, j, math.min(j + 999, i + n - 1)))
end
i = i + n
redis.call("HSET", KEYS[1], "_s", seen, "_e", expires, unpack(ARGV, i, math.min(i + 995, #ARGV)))
for j = i + 996, #ARGV, 1000 do
  redis.call("HSET", KEYS[1], unpack(ARGV, j, math.min(j + 999, #ARGV)))
end
if version == tonumber(base) + 1 then return version end
return redis.call("HGETALL", KEYS[1])
"""


def record_key(prefix: str, key_hash: str) -> str:
    return f"{prefix}{key_hash}"


def user_key(prefix: str, user_id: str) -> str:
    return f"{prefix}user:{user_id}"


def revoked_channel(prefix: str) -> str:
    """The pub/sub channel on which each deleted record's key hash is published
    (never the key, never data), so that every process closes its sockets."""
    return f"{prefix}revoked"


def ttl_ms(expires: float, now: float) -> int:
    return max(1, int((expires - now) * 1000))


def _meta_value(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _field(kind: str, name: str) -> bytes:
    # surrogatepass: a name holding a lone surrogate (no UTF-8 exists for it)
    # still makes a field, read back by record_from_hash; other names are plain UTF-8.
    return (kind + name).encode("utf-8", "surrogatepass")


def save_args(record: SessionRecord, must_create: bool, now: float) -> list[Any]:
    args: list[Any] = ["1" if must_create else "0", ttl_ms(record.expires, now)]
    args += ["_c", repr(record.created), "_s", repr(record.last_seen)]
    args += ["_e", repr(record.expires), "_v", record.version]
    if record.user_id is not None:
        args += ["_u", record.user_id]
    for name, raw in record.data.items():
        args += [_field("d:", name), raw]
    for name, value in record.meta.items():
        args += [f"m:{name}", _meta_value(value)]
    return args


def apply_args(change: Change, now: float, base_version: int) -> list[Any]:
    deletes: list[Any] = [_field("d:", name) for name in change.delete] if change.delete else []
    meta = change.meta
    if meta:
        deletes += [f"m:{name}" for name, value in meta.items() if value is None]
    if change.set_user and change.user_id is None:
        deletes.append("_u")
    header = (
        f"{ttl_ms(change.expires, now)} {'1' if change.clear else '0'} {base_version}"
        f" {len(deletes)} {change.last_seen!r} {change.expires!r}"
    )
    args: list[Any] = [header, *deletes]
    if change.set_user and change.user_id is not None:
        args += ("_u", change.user_id)
    for name, raw in change.set.items():
        args += (_field("d:", name), raw)
    if meta:
        for name, value in meta.items():
            if value is not None:
                args += (f"m:{name}", _meta_value(value))
    return args


def pairs(reply: list[Any]) -> dict[Any, Any]:
    """A flattened HGETALL reply (from a script) as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _decoded(fields: dict[Any, Any]) -> dict[str, str]:
    # The store's own clients decode replies (``decode_responses``); a client
    # that does not hands over bytes, decoded here the same way.
    return {
        (name.decode("utf-8", "surrogatepass") if isinstance(name, bytes) else name): (
            value.decode() if isinstance(value, bytes) else value
        )
        for name, value in fields.items()
    }


def record_from_hash(key_hash: str, fields: dict[Any, Any]) -> SessionRecord:
    """Decode an HGETALL reply (str, or bytes from a client that does not decode) into a record."""
    data: dict[str, str] = {}
    meta: dict[str, Any] = {}
    own: dict[str, str] = {}
    try:
        if not isinstance(next(iter(fields), ""), str):
            fields = _decoded(fields)
        for name, value in fields.items():
            kind = name[:2]
            if kind == "d:":
                data[name[2:]] = value
            elif kind == "m:":
                meta[name[2:]] = json.loads(value)
            else:
                own[name] = value
        return SessionRecord(
            key_hash=key_hash,
            data=data,
            created=float(own["_c"]),
            last_seen=float(own["_s"]),
            expires=float(own["_e"]),
            user_id=own.get("_u"),
            version=int(own["_v"]),
            meta=meta,
        )
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecord(f"session record {key_hash[:12]}… is not valid: {exc!r}") from None


def parse_replicas(value: str | int) -> int:
    """``wait_replicas``, checked: a whole number of replicas, 0 (the default) for none."""
    try:
        replicas = int(value)
    except (TypeError, ValueError):
        replicas = -1
    if isinstance(value, bool) or replicas < 0:
        raise ConfigurationError("store", f"wait_replicas={value!r} is not a whole number >= 0")
    return replicas


def parse_url(url: str) -> dict[str, Any]:
    """Split a store URL into what the client factories need.

    ``redis://`` and ``rediss://`` pass through to redis-py;
    ``redis+cluster://h:p[,h:p]`` and ``redis+sentinel://h:p[,h:p]/service[/db]``
    are ours. ``?prefix=`` sets the key prefix, ``?timeout=`` (seconds) the
    timeout of connecting and of every command, ``?wait_replicas=`` how many
    replicas must acknowledge each write (``WAIT``; not on a cluster).
    """
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", [DEFAULT_PREFIX])[-1]
    timeout = parse_seconds("timeout", query.pop("timeout", [None])[-1])
    wait_replicas = parse_replicas(query.pop("wait_replicas", ["0"])[-1])
    scheme = parts.scheme.lower()
    rest = "&".join(f"{k}={v[-1]}" for k, v in query.items())
    path = [p for p in parts.path.split("/") if p]
    # redis-py ignores a database that is not a number and uses 0: refuse it instead.
    db_part = path[1:] if scheme == "redis+sentinel" else path
    if len(db_part) > 1 or (db_part and not db_part[0].isdigit()):
        raise ConfigurationError(
            "store", f"{'/'.join(db_part)!r} is not a Redis database number (like redis://host/0)"
        )
    if scheme in ("redis", "rediss"):
        base = url.split("?", 1)[0]
        return {
            "kind": "single",
            "url": base + (f"?{rest}" if rest else ""),
            "prefix": prefix,
            "timeout": timeout,
            "wait_replicas": wait_replicas,
        }
    hosts = []
    for host in parts.netloc.rsplit("@", 1)[-1].split(","):
        name, _, port = host.partition(":")
        if not name:
            raise ConfigurationError("store", f"no host in {url!r}")
        try:
            hosts.append((name, int(port or 6379)))
        except ValueError:
            raise ConfigurationError("store", f"bad port in {url!r}") from None
    password = unquote(parts.password) if parts.password else None
    if scheme == "redis+cluster":
        return {
            "kind": "cluster",
            "hosts": hosts,
            "password": password,
            "prefix": prefix,
            "timeout": timeout,
            "wait_replicas": wait_replicas,
        }
    if scheme == "redis+sentinel":
        if not path:
            raise ConfigurationError("store", f"{url!r} names no sentinel service (…/mymaster)")
        db = int(path[1]) if len(path) > 1 else 0
        return {
            "kind": "sentinel",
            "hosts": hosts,
            "service": path[0],
            "db": db,
            "password": password,
            "prefix": prefix,
            "timeout": timeout,
            "wait_replicas": wait_replicas,
        }
    raise ConfigurationError("store", f"unknown Redis scheme {scheme!r}")
