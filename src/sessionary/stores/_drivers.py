"""Where the Memcached drivers differ: one small interface, an async and a sync implementation.

httpcore's ``_backends`` shape. ``_async/memcached.py`` is written once
against :class:`AsyncMemcachedDriver`; its generated twin runs the same code
on :class:`SyncMemcachedDriver` (the generator renames ``Async<Name>`` to
``Sync<Name>``, ``aclose`` to ``close`` and drops ``await``). Both speak:

- ``gets(key)`` -> ``(value or None, CAS token)``
- ``add(key, value, expire)`` -> stored?; ``set(key, value, expire)``
- ``cas(key, value, expire, token)`` -> stored? (``None``: the key is gone)
- ``delete(key)``, ``sleep(seconds)`` (a CAS backoff)
- ``operation()``: around one store operation, its deadline and error translation
- ``aclose()`` / ``close()``

Keys go to servers by the same :class:`~sessionary.stores._memcached.Router`
in both, so each colour finds what the other wrote.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import aiomcache
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheError

from ..exceptions import StoreError, StoreUnavailable
from ._loops import AsyncPerLoop
from ._memcached import Router

__all__ = ["AsyncMemcachedDriver", "SyncMemcachedDriver"]

T = TypeVar("T")


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except (OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"memcached unavailable: {exc!r}") from exc
    except (MemcacheError, aiomcache.exceptions.ClientException) as exc:
        raise StoreError(f"memcached error: {exc}") from exc


class SyncMemcachedDriver:
    """pymemcache: plain clients per server, one per concurrent command;
    ``timeout`` bounds connecting and each command.

    pymemcache's ``PooledClient`` wraps every command in its pool's lock and
    context managers (18 Python calls of a ``gets``'s 58). The driver keeps
    each server's idle clients in a list instead: a command pops one (a new
    one when none is idle), runs and pushes it back, both single operations
    on a list, safe across threads. A client that fails mid-command closes
    its socket itself and reconnects on its next use.
    """

    def __init__(self, router: Router, timeout: float) -> None:
        self.router = router
        self.timeout = timeout
        self._idle: dict[str, list[Any]] = {}

    def _run(self, key: bytes, command: Callable[[Any], T]) -> T:
        """``command(client)`` on an idle client of ``key``'s server (a new one if none is)."""
        name = self.router.node(key)
        idle = self._idle.get(name)
        if idle is None:
            idle = self._idle.setdefault(name, [])
        try:
            client = idle.pop()
        except IndexError:
            host, _, port = name.rpartition(":")
            client = Client(
                (host, int(port)),
                connect_timeout=self.timeout,
                timeout=self.timeout,
                default_noreply=False,
            )
        try:
            return command(client)
        finally:
            idle.append(client)

    @contextmanager
    def operation(self) -> Iterator[None]:
        with translate_errors():
            yield

    def gets(self, key: bytes) -> tuple[bytes | None, Any]:
        value, token = self._run(key, lambda client: client.gets(key))
        return value, token

    def add(self, key: bytes, value: bytes, expire: int) -> bool:
        return bool(self._run(key, lambda client: client.add(key, value, expire=expire)))

    def set(self, key: bytes, value: bytes, expire: int) -> None:
        self._run(key, lambda client: client.set(key, value, expire=expire))

    def cas(self, key: bytes, value: bytes, expire: int, token: Any) -> bool | None:
        stored = self._run(key, lambda client: client.cas(key, value, token, expire=expire))
        return None if stored is None else bool(stored)

    def delete(self, key: bytes) -> None:
        self._run(key, lambda client: client.delete(key))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        idle, self._idle = self._idle, {}
        for clients in idle.values():
            for client in clients:
                client.close()


class _Client(aiomcache.Client):
    """aiomcache's client, made safe to interrupt and to lose its server.

    A command cut short (cancelled, or timed out by ``asyncio.timeout``) leaves
    its reply unread on the connection; aiomcache 0.8 returns that connection
    to its pool (it discards a connection only on ``Exception``, and
    cancellation is not one), so every later command on it reads the previous
    command's answer: after one stall, loads return the wrong record or none.
    Here a connection whose command did not complete is marked broken, so the
    pool closes it instead of reusing it.

    aiomcache also reads a reply with ``while not line.endswith(b"\\r\\n")``; at
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


async def _close_clients(clients: dict[str, _Client]) -> None:
    for client in clients.values():
        await client.close()


class AsyncMemcachedDriver:
    """aiomcache: a client per server and event loop; ``timeout`` bounds each operation whole."""

    def __init__(self, router: Router, timeout: float) -> None:
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

    @asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        # One deadline for the whole operation; a command it cuts short
        # discards its connection (see _Client).
        with translate_errors():
            async with asyncio.timeout(self.timeout):
                yield

    async def gets(self, key: bytes) -> tuple[bytes | None, Any]:
        value, token = await self._client(key).gets(key)
        return value, token

    async def add(self, key: bytes, value: bytes, expire: int) -> bool:
        return bool(await self._client(key).add(key, value, exptime=expire))

    async def set(self, key: bytes, value: bytes, expire: int) -> None:
        await self._client(key).set(key, value, exptime=expire)

    async def cas(self, key: bytes, value: bytes, expire: int, token: Any) -> bool | None:
        stored = await self._client(key).cas(key, value, token, exptime=expire)
        return None if stored is None else bool(stored)

    async def delete(self, key: bytes) -> None:
        await self._client(key).delete(key)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def aclose(self) -> None:
        await self._clients.aclose()
