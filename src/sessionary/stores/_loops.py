"""Driver resources (clients, pools, engines) that follow the event loop calling them.

An asyncio connection belongs to the loop that opened it: used from another
loop it fails (``attached to a different loop``), and once its loop is closed
it cannot even be closed cleanly. Yet one store object routinely meets many
loops: Starlette's ``TestClient`` without ``with`` and asgiref's
``async_to_sync`` run each call on a new loop, ``asyncio.run()`` may be called
several times over one store, pytest-asyncio gives each test its own loop.

:class:`AsyncPerLoop` keeps one resource per running loop. When a loop shuts
down the way ``asyncio.run()``, ``asyncio.Runner``, anyio and pytest-asyncio
shut loops down (``loop.shutdown_asyncgens()``), its resource is closed on
that loop, while it still runs: each resource is tied to a suspended async
generator, which the loop finalises at shutdown. Resources of loops closed
without that step are dropped when the next loop arrives; at most ``limit``
live loops keep one, the oldest are closed on their own loop beyond that.

:class:`SyncPerLoop` is the sync twin's counterpart (the generated code calls
the same names): one resource, created on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Loops alive at once in one process are few (the server's, a test's, a
# thread's); a bound keeps a loop-per-call pattern from piling up pools.
DEFAULT_LIMIT = 8


class _Entry(Generic[T]):
    __slots__ = ("finaliser", "resource")

    def __init__(self, resource: T, finaliser: AsyncGenerator[None, None]) -> None:
        self.resource = resource
        self.finaliser = finaliser


class AsyncPerLoop(Generic[T]):
    """One ``create()``-made resource per running event loop, closed with ``close``."""

    def __init__(
        self,
        create: Callable[[], T],
        close: Callable[[T], Awaitable[None]],
        *,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        self._create = create
        self._close = close
        self._limit = limit
        self._entries: dict[asyncio.AbstractEventLoop, _Entry[T]] = {}
        # Loops in several threads may share one store.
        self._lock = threading.Lock()

    def get(self) -> T:
        """The running loop's resource, created on its first use."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(loop)
        if entry is not None:
            return entry.resource
        with self._lock:
            self._prune()
            resource = self._create()
            finaliser = self._finalise(loop, resource)
            # Run the generator to its ``yield`` now (it does not suspend on the
            # way): the loop registers it, and finalises it at shutdown.
            step = finaliser.asend(None)
            with contextlib.suppress(StopIteration):
                step.send(None)
            self._entries[loop] = _Entry(resource, finaliser)
        return resource

    async def _finalise(
        self, loop: asyncio.AbstractEventLoop, resource: T
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                entry = self._entries.get(loop)
                if entry is not None and entry.resource is resource:
                    del self._entries[loop]
            await self._close(resource)

    def _prune(self) -> None:
        for loop in [loop for loop in self._entries if loop.is_closed()]:
            # Closed without shutting down its generators: its connections died
            # with it and cannot be closed from here; let them go.
            del self._entries[loop]
        while len(self._entries) >= self._limit:
            loop = next(iter(self._entries))
            entry = self._entries.pop(loop)
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(entry.finaliser.aclose(), loop)

    async def aclose(self) -> None:
        """Close the running loop's resource, and schedule the others' on their loops."""
        here = asyncio.get_running_loop()
        with self._lock:
            entries = list(self._entries.items())
        for loop, entry in entries:
            if loop is here:
                await entry.finaliser.aclose()
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(entry.finaliser.aclose(), loop)
            else:
                with self._lock:
                    self._entries.pop(loop, None)


class SyncPerLoop(Generic[T]):
    """The sync counterpart: one resource, created on first use, closed by ``close()``."""

    def __init__(self, create: Callable[[], T], close: Callable[[T], None]) -> None:
        self._create = create
        self._close = close
        self._resource: T | None = None
        self._creating = threading.Lock()

    def get(self) -> T:
        resource = self._resource
        if resource is None:
            # Threads racing the first use would each make one (an engine, a
            # pool) and leak all but the last: one makes it, the others wait.
            with self._creating:
                resource = self._resource
                if resource is None:
                    resource = self._resource = self._create()
        return resource

    def close(self) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            self._close(resource)
