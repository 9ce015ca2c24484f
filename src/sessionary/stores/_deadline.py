"""Per-operation deadlines for drivers that have no read timeout of their own.

A store operation against a server that stops answering (frozen, stalled
network, overloaded) must fail within the store's ``timeout`` rather than hold
a worker for as long as the server stays silent, and the connection it was
using must never serve another request: its reply may still arrive, and would
answer the wrong question.

:class:`AsyncDeadline` bounds an operation on the event loop: the operation is
cancelled at the deadline, and cancelled again a moment later if its driver
is still cleaning up (psycopg, interrupted, politely asks the server to cancel
the query and waits up to ten seconds for it; interrupted a second time, it
closes the connection at once). SQLAlchemy's pool then discards the
connection instead of returning it.

:class:`SyncDeadline` does the same for blocking drivers that can wait on a
socket forever (psycopg's sync connections have no read timeout): one watchdog
thread shuts down the socket of any connection still in use by an operation
past its deadline, which makes the blocked call fail at once as a lost
connection, and SQLAlchemy invalidates it. Drivers with a native socket
timeout (PyMySQL's ``read_timeout``, redis-py, pymemcache) need neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from ..exceptions import ConfigurationError

# How long a driver may spend cleaning up after the deadline before it is
# interrupted again (and drops its connection).
GRACE = 0.25


class AsyncDeadline:
    """Bounds each operation, on the loop, to ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def attach(self, engine: sa.Engine) -> None:
        """Nothing to watch: cancellation reaches every connection on the loop."""

    def bound(self) -> _Bound:
        """Raise ``TimeoutError`` when the block outlives the deadline."""
        return _Bound(self.seconds)

    def expired(self) -> bool:
        # An expired bound surfaces as TimeoutError, never as a driver error.
        return False


class _Bound:
    """``asyncio.timeout``, interrupting twice (see the module docstring).

    A class rather than ``asyncio.timeout`` with a second timer: this runs
    around every operation, and costs a third as much.
    """

    __slots__ = ("_fired", "_handle", "_loop", "_seconds", "_task")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._fired = 0

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None  # store operations run inside a task
        self._task = task
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(self._seconds, self._fire)

    def _fire(self) -> None:
        self._fired += 1
        self._task.cancel()
        if self._fired == 1:
            self._handle = self._loop.call_later(GRACE, self._fire)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        self._handle.cancel()
        if not self._fired:
            return
        for _ in range(self._fired):
            self._task.uncancel()
        # Ours alone (nobody else cancelled the task meanwhile): a timeout.
        if kind is asyncio.CancelledError and not self._task.cancelling():
            raise TimeoutError(f"no answer within {self._seconds:g} s") from exc


class _Watch:
    __slots__ = ("connections", "deadline", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connections: list[Any] = []
        self.fired = False


class _Watchdog:
    """One thread for the process: shuts down the sockets of overdue operations."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._lock:
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sessionary-deadline", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._lock.notify()

    def remove(self, watch: _Watch) -> None:
        with self._lock:
            # Left in the heap (removal is O(n)) until its deadline, when it is
            # popped with nothing to stop: the heap holds at most the bounds
            # begun within one timeout.
            watch.connections.clear()

    def track(self, watch: _Watch, connection: Any, fileno: Callable[[Any], int]) -> None:
        with self._lock:
            watch.connections.append((connection, fileno))

    def untrack(self, watch: _Watch, connection: Any) -> None:
        with self._lock:
            watch.connections[:] = [c for c in watch.connections if c[0] is not connection]

    def _run(self) -> None:
        with self._lock:
            while True:
                if not self._heap:
                    self._lock.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._lock.wait(delay)
                    continue
                _, _, watch = heapq.heappop(self._heap)
                if watch.connections:
                    watch.fired = True
                    for connection, fileno in watch.connections:
                        _shut_down(fileno(connection))


def _shut_down(fd: int) -> None:
    # Shutting down (not closing) the socket wakes the blocked reader with EOF
    # while the descriptor stays the driver's to close.
    if fd < 0:
        return
    with contextlib.suppress(OSError, ValueError):
        sock = socket.socket(fileno=fd)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()


_watchdog = _Watchdog()
_current = threading.local()


class SyncDeadline:
    """Bounds each operation of this thread to ``seconds``.

    ``fileno`` reads a DBAPI connection's socket, for the watchdog; drivers
    with their own read timeout go without, and the bound only tells their
    timeouts apart from other lost connections (no retry past the deadline).
    """

    def __init__(self, seconds: float, fileno: Callable[[Any], int] | None = None) -> None:
        self.seconds = seconds
        self.fileno = fileno

    def attach(self, engine: sa.Engine) -> None:
        """Watch the connections ``engine`` lends to bounded operations."""
        fileno = self.fileno
        if fileno is None:
            return

        @sa.event.listens_for(engine, "checkout")
        def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            watch = getattr(_current, "watch", None)
            if watch is not None:
                _watchdog.track(watch, dbapi_connection, fileno)

        @sa.event.listens_for(engine, "checkin")
        def _checkin(dbapi_connection: Any, record: Any) -> None:
            watch = getattr(_current, "watch", None)
            if watch is not None:
                _watchdog.untrack(watch, dbapi_connection)

    @contextlib.contextmanager
    def bound(self) -> Iterator[None]:
        """Fail the block's blocked I/O once it outlives the deadline."""
        if getattr(_current, "watch", None) is not None:
            yield  # already inside a bound of this thread
            return
        watch = _Watch(time.monotonic() + self.seconds)
        _current.watch = watch
        if self.fileno is not None:
            _watchdog.add(watch)
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if self._past(watch):
                raise TimeoutError(f"no answer within {self.seconds:g} s") from exc
            raise
        finally:
            _current.watch = None
            if self.fileno is not None:
                _watchdog.remove(watch)

    def expired(self) -> bool:
        """Whether the running bound's deadline has passed (no retry is worth it)."""
        watch = getattr(_current, "watch", None)
        return watch is not None and self._past(watch)

    @staticmethod
    def _past(watch: _Watch) -> bool:
        return watch.fired or time.monotonic() >= watch.deadline


def parse_seconds(name: str, value: str | None) -> float | None:
    """A timeout given in a store URL's query, checked (``None`` when absent)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError("store", f"{name}={value!r} is not a number") from None
    if not seconds > 0:
        raise ConfigurationError("store", f"{name} must be a positive number of seconds")
    return seconds
