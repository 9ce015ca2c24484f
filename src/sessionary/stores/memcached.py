"""``MemcachedStore``: one or several Memcached servers, native TTLs, CAS.

``memcached://host:port[,host:port…]`` (``?prefix=`` sets the key prefix).
Keys spread over the servers by rendezvous hashing; sync code talks to them
through pymemcache, async code through aiomcache. The logic is written once
in ``_memcached.py``; the two classes below only execute its commands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._clock import Clock
from ..exceptions import MissingDependency, StoreError, StoreUnavailable

# The one guard for the extra's drivers: before ``_memcached``, which imports pymemcache too.
try:
    import aiomcache
    from pymemcache.client.base import PooledClient
    from pymemcache.exceptions import MemcacheError
except ImportError as exc:  # exercised by tests/test_cli.py with the drivers hidden
    raise MissingDependency("MemcachedStore (pymemcache, aiomcache)", "memcached") from exc

from ._composed import ComposedStore
from ._deadline import parse_seconds
from ._loops import AsyncPerLoop
from ._memcached import DEFAULT_PREFIX, ITEM_LIMIT, Command, Logic, Router, Steps, parse_servers
from .base import Progress

__all__ = ["MemcachedStore"]

DEFAULT_TIMEOUT = 2.0


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except (OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"memcached unavailable: {exc!r}") from exc
    except (MemcacheError, aiomcache.exceptions.ClientException) as exc:
        raise StoreError(f"memcached error: {exc}") from exc


class _SyncDriver:
    def __init__(self, logic: Logic, router: Router, timeout: float) -> None:
        self.logic = logic
        self.router = router
        self.timeout = timeout
        self._clients: dict[str, Any] = {}

    def _client(self, key: bytes) -> Any:
        name = self.router.node(key)
        client = self._clients.get(name)
        if client is None:
            host, _, port = name.rpartition(":")
            client = PooledClient(
                (host, int(port)), connect_timeout=self.timeout, timeout=self.timeout
            )
            self._clients[name] = client
        return client

    def _do(self, command: Command) -> Any:
        verb, key, *args = command
        if verb == "sleep":
            time.sleep(args[0])
            return None
        client = self._client(key)
        if verb == "gets":
            return client.gets(key)
        if verb == "cas":
            value, expire, token = args
            return client.cas(key, value, token, expire=expire, noreply=False)
        if verb in ("add", "set"):
            value, expire = args
            return getattr(client, verb)(key, value, expire=expire, noreply=False)
        return client.delete(key, noreply=False)

    def run(self, steps: Steps) -> Any:
        result: Any = None
        with translate_errors():
            while True:
                try:
                    command = steps.send(result)
                except StopIteration as stop:
                    return stop.value
                result = self._do(command)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class _Client(aiomcache.Client):
    """aiomcache's client, made safe to interrupt and to lose its server.

    A command cut short (cancelled, or timed out by ``wait_for``) leaves its
    reply unread on the connection; aiomcache 0.8 returns that connection to
    its pool (it discards a connection only on ``Exception``, and cancellation
    is not one), so every later command on it reads the previous command's
    answer: after one stall, loads return the wrong record or none. Here a
    connection whose command did not complete is marked broken, so the pool
    closes it instead of reusing it.

    aiomcache also reads a reply with ``while not line.endswith(b"\r\n")``; at
    EOF ``readline`` returns ``b""`` without suspending, so a memcached that
    dies mid-command pins the event loop forever and no timeout can fire. An
    empty read here is a dropped connection, raised as one.
    """

    async def _execute_simple_command(self, conn: Any, raw_command: bytes) -> bytes:
        with _discard_unless_done(conn):
            conn.writer.write(raw_command)
            await conn.writer.drain()
            response = bytearray()
            while not response.endswith(b"\r\n"):
                line = await conn.reader.readline()
                if not line:
                    raise ConnectionResetError("memcached closed the connection")
                response.extend(line)
            return bytes(response[:-2])

    async def _multi_get(self, conn: Any, *keys: bytes, with_cas: bool = True) -> Any:
        parent: Any = super()  # its overloads want a literal ``with_cas``
        with _discard_unless_done(conn):
            return await parent._multi_get(conn, *keys, with_cas=with_cas)


@contextmanager
def _discard_unless_done(conn: Any) -> Iterator[None]:
    done = False
    try:
        yield
        done = True
    finally:
        if not done:
            # aiomcache's pool closes a connection whose reader holds an error.
            conn.reader.set_exception(ConnectionAbortedError("memcached command interrupted"))


class _AsyncDriver:
    def __init__(self, logic: Logic, router: Router, timeout: float) -> None:
        self.logic = logic
        self.router = router
        self.timeout = timeout
        # aiomcache's connections and pool queue belong to one event loop.
        self._clients: AsyncPerLoop[dict[str, _Client]] = AsyncPerLoop(dict, _close_clients)

    def _client(self, key: bytes) -> _Client:
        name = self.router.node(key)
        clients = self._clients.get()
        client = clients.get(name)
        if client is None:
            host, _, port = name.rpartition(":")
            client = clients[name] = _Client(host, int(port), pool_size=8)
        return client

    async def _do(self, command: Command) -> Any:
        verb, key, *args = command
        if verb == "sleep":
            await asyncio.sleep(args[0])
            return None
        client = self._client(key)
        if verb == "gets":
            return await client.gets(key)
        if verb == "cas":
            value, expire, token = args
            return await client.cas(key, value, token, exptime=expire)
        if verb in ("add", "set"):
            value, expire = args
            return await getattr(client, verb)(key, value, exptime=expire)
        return await client.delete(key)

    async def run(self, steps: Steps) -> Any:
        result: Any = None
        # One deadline for the whole operation; a command it cuts short
        # discards its connection (see _Client).
        with translate_errors():
            async with asyncio.timeout(self.timeout):
                while True:
                    try:
                        command = steps.send(result)
                    except StopIteration as stop:
                        return stop.value
                    result = await self._do(command)

    async def close(self) -> None:
        await self._clients.aclose()


async def _close_clients(clients: dict[str, _Client]) -> None:
    for client in clients.values():
        await client.close()


class _Backend:
    """Adapts a driver to the backend interface ``ComposedStore`` routes to."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.logic: Logic = driver.logic

    def load(self, key_hash: str) -> Any:
        return self.driver.run(self.logic.load(key_hash))

    def save(self, record: Any, *, must_create: bool) -> Any:
        return self.driver.run(self.logic.save(record, must_create))

    def apply(self, key_hash: str, change: Any, base: Any) -> Any:
        return self.driver.run(self.logic.apply(key_hash, change, base))

    def delete(self, key_hash: str) -> Any:
        return self.driver.run(self.logic.delete(key_hash))

    def exists(self, key_hash: str) -> Any:
        result = self.driver.run(self.logic.load(key_hash))
        if asyncio.iscoroutine(result):
            return _is_not_none(result)
        return result is not None

    def sessions_for(self, user_id: str) -> Any:
        return self.driver.run(self.logic.sessions_for(user_id))

    def revoke(self, user_id: str, target: str, keep: str | None) -> Any:
        return self.driver.run(self.logic.revoke(user_id, target, keep))

    def clear_expired(self, batch_size: int, progress: Progress | None) -> Any:
        # Memcached expires records itself and cannot be scanned.
        if isinstance(self.driver, _AsyncDriver):
            return _zero()
        return 0

    def close(self) -> Any:
        return self.driver.close()

    def aclose(self) -> Any:
        return self.driver.close()


async def _is_not_none(result: Any) -> bool:
    return (await result) is not None


async def _zero() -> int:
    return 0


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
        logic = Logic(self.prefix, self._now)
        self._async = _Backend(_AsyncDriver(logic, router, timeout))
        self._sync = _Backend(_SyncDriver(logic, router, timeout))

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemcachedStore:
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"MemcachedStore({self.url!r})"
