"""Redis backend of ``RedisStore``, async (source of the generated sync twin)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as redis_module
import redis.exceptions
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff

from ..._clock import Clock
from ...exceptions import CorruptRecord, SessionKeyExists, StoreError, StoreUnavailable
from .._loops import AsyncPerLoop
from .._redis import (
    APPLY,
    SAVE,
    AsyncCommandDeadline,
    apply_args,
    pairs,
    record_from_hash,
    record_key,
    revoked_channel,
    save_args,
    user_key,
)
from ..base import ALL, ALL_BUT_CURRENT, Change, Progress, SessionInfo, SessionRecord, apply_change

# TimeoutError (the builtin): the operation's deadline passed (AsyncCommandDeadline).
REDIS_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, TimeoutError)


def translated(exc: Exception) -> Exception:
    """redis-py's error (one of ``REDIS_ERRORS``) as sessionary's."""
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return StoreUnavailable(f"redis unavailable: {exc}")
    if isinstance(exc, TimeoutError):
        return StoreUnavailable("redis unavailable: no answer within the store's timeout")
    if isinstance(exc, redis.exceptions.RedisClusterException):
        # Not a RedisError: no reachable node, or a slot no master covers
        # (mid-failover). Both are the cluster being unavailable.
        return StoreUnavailable(f"redis cluster unavailable: {exc}")
    return StoreError(f"redis error: {exc}")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise redis-py's errors as sessionary's (the hot paths inline this)."""
    try:
        yield
    except REDIS_ERRORS as exc:
        raise translated(exc) from exc


def one_reconnect() -> Retry:
    """The retry of every client but a cluster's: one more try, at once, when the connection broke.

    A pooled connection the server dropped while idle (a restart, a proxy)
    fails its next command with ``ConnectionError``: one new connection
    serves it instead of a 503 (a client made from a URL had no retry at
    all). Never more: the clients redis-py makes itself (the sentinels') had
    its default, ten tries with exponential backoff and jitter, which held a
    request 3-4 s with every sentinel down whatever the store's timeout. A
    timeout is never retried (that would double the wait), so a refused
    connection fails at once and a silent one after the timeout. A cluster
    keeps redis-py's retry: it reloads the node table after a failover, and
    sleeps at most 0.14 s in all.
    """
    return Retry(NoBackoff(), 1, (redis.exceptions.ConnectionError,))


# redis-py types its sync and async twins differently; these are used the same way.
node_class: Any = ClusterNode
sentinel_class: Any = Sentinel


# Whether this colour's cluster client loads its node table on first use, not
# when made (redis-py's asyncio one does; see Handle.start).
CLUSTER_LOADS_LAZILY = hasattr(RedisCluster, "initialize")


_LANES: weakref.WeakSet[Lane] = weakref.WeakSet()


class Lane:
    """A single server's hot commands (load, apply, save) on connections kept out of the pool.

    redis-py 8 takes a connection from its pool and gives it back around every
    command, recording pool metrics both ways, and wraps the command in its
    retry and observability layers: per request (one HGETALL, one EVALSHA)
    about 200k of the 950k instructions a WSGI request costs (callgrind). A
    lane takes connections from the client's pool only to grow, and keeps
    the idle ones in a stack of its own: a command pops one, runs on it and
    pushes it back (both single operations on a list, safe across threads).
    The connections stay checked out of the pool, which still makes them
    (``max_connections``), and closes them all with the client.

    What the bypassed layers did is kept: a connection that fails mid-command
    disconnects itself (redis-py's connection does so on any error, a
    cancellation included) and reconnects on its next use; the
    ``health_check_interval`` PING still runs before a command on a
    connection idle that long; and one command that finds an idle connection
    closed by the server (a restart, an idle timeout) runs once more on a new
    one, as redis-py's retry would. A timeout is not retried (the deadline
    is spent). A forked child forgets its parent's connections.
    """

    def __init__(self, client: Any) -> None:
        self.pool = client.connection_pool
        self.idle: list[Any] = []
        _LANES.add(self)

    async def command(self, *args: Any) -> Any:
        idle = self.idle
        try:
            connection = idle.pop()
        except IndexError:
            connection = await self.pool.get_connection()
            fresh = True
        else:
            fresh = False
        try:
            try:
                await connection.send_command(*args)
                return await connection.read_response()
            except redis.exceptions.ConnectionError:
                if fresh:
                    raise
                # Closed while idle: the connection reconnects, once.
                await connection.send_command(*args)
                return await connection.read_response()
        finally:
            idle.append(connection)

    def forget(self) -> None:
        self.idle = []


def _forget_lanes() -> None:
    for lane in list(_LANES):
        lane.forget()


os.register_at_fork(after_in_child=_forget_lanes)


class Handle:
    """A client with its scripts' digests (and, for Sentinel, the sentinels' clients).

    A single server's hot commands run on a :class:`Lane`; a cluster's and a
    Sentinel-managed master's through the client (redirection, failover).
    """

    def __init__(
        self, client: Any, sentinels: list[Any], *, ready: bool = True, lane: bool = False
    ) -> None:
        self.client = client
        self.save_sha = client.register_script(SAVE).sha
        self.apply_sha = client.register_script(APPLY).sha
        self.sentinels = sentinels
        self.ready = ready
        self.lane = Lane(client) if lane else None
        self.command = client.execute_command if self.lane is None else self.lane.command

    async def run(self, script: str, sha: str, key: str, args: list[Any]) -> Any:
        """Run ``script`` on ``key`` by its digest (one round trip), loading it
        first when the server does not know it (a restart, a SCRIPT FLUSH)."""
        try:
            return await self.command("EVALSHA", sha, 1, key, *args)
        except redis.exceptions.NoScriptError:
            await self.client.script_load(script)
            return await self.command("EVALSHA", sha, 1, key, *args)

    async def start(self) -> None:
        """Load the cluster client's node table, before its first command.

        redis-py's asyncio client sends a command that arrives before then to
        one node whatever its key (MOVED), and on every fifth MOVED closes all
        its connections, those concurrent commands are using included (an
        AttributeError mid-connect, or a write sent twice). Its initialize()
        runs once under its own lock: concurrent first commands wait for it.
        """
        await self.client.initialize()
        self.ready = True


class AsyncRedisBackend:
    """Runs the store's commands on a client made on first use in each event loop."""

    def __init__(self, target: dict[str, Any], clock: Clock, options: dict[str, Any]) -> None:
        self.target = target
        self.prefix: str = target["prefix"]
        self.clock = clock
        self.deadline = AsyncCommandDeadline(options)
        self.options = self.deadline.client_options(options)
        self.wait_replicas: int = target["wait_replicas"]
        # WAIT returns before the command's own timeout would cut it off.
        self.wait_ms = max(1, int((options.get("socket_timeout") or 2.0) * 500))
        self._handles = AsyncPerLoop(self._connect, self._disconnect)

    def _connect(self) -> Handle:
        target, options = self.target, self.options
        client: Any
        sentinels: list[Any] = []
        cluster = target["kind"] == "cluster"
        if cluster:
            nodes = [node_class(host, port) for host, port in target["hosts"]]
            client = RedisCluster(startup_nodes=nodes, password=target["password"], **options)
        elif target["kind"] == "single":
            options = {"retry": one_reconnect(), **options}
            client = redis_module.Redis.from_url(target["url"], **options)
        else:
            # The sentinels' clients too: redis-py gives them its default retry.
            sentinel_options = {k: v for k, v in options.items() if k.startswith("socket_")}
            sentinel = sentinel_class(
                target["hosts"],
                sentinel_kwargs={"retry": one_reconnect(), **sentinel_options},
                password=target["password"],
                **{"retry": one_reconnect(), **options},
            )
            client = sentinel.master_for(target["service"], db=target["db"])
            sentinels = list(sentinel.sentinels)
        return Handle(
            client,
            sentinels,
            ready=not (cluster and CLUSTER_LOADS_LAZILY),
            lane=target["kind"] == "single",
        )

    async def _disconnect(self, handle: Handle) -> None:
        await handle.client.aclose()
        for sentinel in handle.sentinels:
            await sentinel.aclose()

    def handle(self) -> Handle:
        return self._handles.get()

    def client(self) -> Any:
        return self._handles.get().client

    async def load(self, key_hash: str) -> SessionRecord | None:
        try:
            async with self.deadline():
                handle = self.handle()
                if not handle.ready:
                    await handle.start()
                fields = await handle.command("HGETALL", record_key(self.prefix, key_hash))
        except REDIS_ERRORS as exc:
            raise translated(exc) from exc
        except UnicodeDecodeError as exc:
            # The client decodes replies: a field that is not UTF-8 is not ours.
            raise CorruptRecord(f"session record {key_hash[:12]}… is not valid: {exc!r}") from None
        if not fields:
            return None
        # The reply is a map on RESP3; RESP2 (``?protocol=2``) flattens it.
        record = record_from_hash(key_hash, fields if isinstance(fields, dict) else pairs(fields))
        return record if record.is_live(self.clock()) else None

    async def save(self, record: SessionRecord, *, must_create: bool) -> None:
        key = record_key(self.prefix, record.key_hash)
        try:
            async with self.deadline():
                handle = self.handle()
                if not handle.ready:
                    await handle.start()
                args = save_args(record, must_create, self.clock())
                if not await handle.run(SAVE, handle.save_sha, key, args):
                    raise SessionKeyExists("session key already exists")
                if record.user_id is not None:
                    await handle.client.sadd(user_key(self.prefix, record.user_id), record.key_hash)
                if self.wait_replicas:
                    await self._replicated(handle.client)
        except REDIS_ERRORS as exc:
            raise translated(exc) from exc

    async def apply(
        self, key_hash: str, change: Change, base: SessionRecord | None
    ) -> SessionRecord | None:
        key = record_key(self.prefix, key_hash)
        base_version = base.version if base is not None else -1
        try:
            async with self.deadline():
                handle = self.handle()
                if not handle.ready:
                    await handle.start()
                args = apply_args(change, self.clock(), base_version)
                reply = await handle.run(APPLY, handle.apply_sha, key, args)
                if reply is None:
                    return None
                if change.set_user and change.user_id is not None:
                    await handle.client.sadd(user_key(self.prefix, change.user_id), key_hash)
                if self.wait_replicas:
                    await self._replicated(handle.client)
        except REDIS_ERRORS as exc:
            raise translated(exc) from exc
        except UnicodeDecodeError as exc:
            raise CorruptRecord(f"session record {key_hash[:12]}… is not valid: {exc!r}") from None
        if isinstance(reply, list) or base is None:
            return record_from_hash(key_hash, pairs(reply))
        # Our base was current (the reply is the new version): the merge is
        # the change applied to it.
        updated = apply_change(base, change)
        updated.version = reply
        return updated

    async def delete(self, key_hash: str) -> None:
        key = record_key(self.prefix, key_hash)
        with translate_errors():
            async with self.deadline():
                handle = self.handle()
                if not handle.ready:
                    await handle.start()
                client = handle.client
                user_id = await client.hget(key, "_u")
                await client.delete(key)
                if user_id is not None:
                    user = user_id.decode() if isinstance(user_id, bytes) else user_id
                    await client.srem(user_key(self.prefix, user), key_hash)
                if self.target["kind"] != "cluster":
                    # Every process closes the session's live sockets (``_revocation``);
                    # a cluster's are polled instead.
                    await client.publish(revoked_channel(self.prefix), key_hash)
                if self.wait_replicas:
                    await self._replicated(client)

    async def _replicated(self, client: Any) -> None:
        """The writes so far reached ``wait_replicas`` replicas, or StoreUnavailable.

        Replication is asynchronous: without this, a write acknowledged just
        before the master dies can be lost in a failover. ``WAIT`` closes that
        window for the replicas that acknowledged (one of them is promoted);
        when fewer answer in time, the write is on the master only and the
        request answers 503 rather than promise what a failover could undo.
        """
        wanted = self.wait_replicas
        acknowledged = int(await client.execute_command("WAIT", wanted, self.wait_ms))
        if acknowledged < wanted:
            raise StoreUnavailable(
                f"redis: {acknowledged} of {wanted} replicas acknowledged the write "
                f"within {self.wait_ms} ms"
            )

    async def exists(self, key_hash: str) -> bool:
        return await self.load(key_hash) is not None

    async def _members(self, user_id: str) -> list[str]:
        async with self.deadline():
            handle = self.handle()
            if not handle.ready:
                await handle.start()
            members = await handle.client.smembers(user_key(self.prefix, user_id))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        infos = []
        with translate_errors():
            for key_hash in await self._members(user_id):
                record = await self.load(key_hash)
                if record is None or record.user_id != user_id:
                    async with self.deadline():
                        await self.client().srem(user_key(self.prefix, user_id), key_hash)
                    continue
                infos.append(SessionInfo.from_record(record))
        return sorted(infos, key=lambda info: info.created)

    async def revoke(self, user_id: str, target: str, keep: str | None) -> int:
        ended = 0
        with translate_errors():
            for info in await self.sessions_for(user_id):
                if target not in (ALL, ALL_BUT_CURRENT) and info.session_id != target:
                    continue
                if target == ALL_BUT_CURRENT and info.session_id == keep:
                    continue
                await self.delete(info.session_id)
                ended += 1
        return ended

    async def clear_expired(self, batch_size: int, progress: Progress | None) -> int:
        # Records expire by their TTL; what is left to clean is the per-user
        # index, pruned of members whose record is gone.
        pruned = 0
        with translate_errors():
            async with self.deadline():
                handle = self.handle()
                if not handle.ready:
                    await handle.start()
            client = handle.client
            # However long the whole pass, each command has the deadline.
            pages = client.scan_iter(match=user_key(self.prefix, "*"), count=batch_size).__aiter__()
            while True:
                async with self.deadline():
                    index = await anext(pages, None)
                    members = [] if index is None else await client.smembers(index)
                if index is None:
                    break
                name = index.decode() if isinstance(index, bytes) else index
                for key_hash in members:
                    member = key_hash.decode() if isinstance(key_hash, bytes) else key_hash
                    async with self.deadline():
                        gone = not await client.exists(record_key(self.prefix, member))
                        if gone:
                            await client.srem(name, member)
                    if gone:
                        pruned += 1
                        if progress is not None and pruned % batch_size == 0:
                            progress(pruned)
        if progress is not None and pruned % batch_size:
            progress(pruned)
        return pruned

    async def aclose(self) -> None:
        await self._handles.aclose()
