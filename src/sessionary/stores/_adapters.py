"""The two adapters that give a sync-only implementation its async face.

- :class:`InThread`: a sync backend (the file store's, SQLite's) seen as an
  async one. Each operation is one hop to a worker thread of the store's
  own (:class:`Workers`), so the event loop never blocks on a disk.
- :class:`InlineAsync`: a store that does no I/O (memory, cookie): its async
  methods call the sync ones directly, with no thread hop.

Every other store is written once, async, in ``_async/`` and generated.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .base import Change, Progress, SessionInfo, SessionRecord, Store

__all__ = ["InThread", "InlineAsync", "Workers"]


class InThread:
    """The async twin of a sync backend: every call, whole, in a worker thread.

    A method returns the future of its call (awaitable, as a coroutine
    would be, with no coroutine frame of its own). ``aclose`` runs the
    backend's ``close``.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.workers = Workers()

    def __getattr__(self, name: str) -> Callable[..., asyncio.Future[Any]]:
        method = getattr(self.backend, "close" if name == "aclose" else name)
        submit = self.workers.submit

        def in_thread(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            return submit(method, args, kwargs)

        setattr(self, name, in_thread)  # made once: later lookups find it directly
        return in_thread


_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    Callable[..., Any],
    tuple[Any, ...],
    dict[str, Any],
]


class Workers:
    """A store's own threads, each running one whole call at a time for a waiting event loop.

    Cheaper a call than ``asyncio.to_thread``, which copies the context (no
    store reads a context variable), and runs through the loop's default
    executor: a ``concurrent.futures`` future, a work item and an idle
    semaphore per call, then a second future chained to the first. Here a
    call is one tuple on a queue and one ``call_soon_threadsafe`` back:
    about 150,000 fewer instructions a hop, both threads counted.

    Any loop may submit (a second loop, one that replaced a closed one): the
    job carries its loop. A call cancelled before a thread takes it never
    runs; once running, it runs to its end (the backends' operations are
    atomic: a transaction, or a file replaced whole), and its result is
    dropped. Threads start on demand, up to ``limit`` (the default
    executor's: ``min(32, cpus + 4)``); calls beyond wait in the queue. They
    end when this object is collected, and at interpreter exit after the
    call in hand (as the executor's threads do).
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or min(32, (os.cpu_count() or 1) + 4)
        self._crew = _Crew()
        _CREWS.add(self._crew)
        weakref.finalize(self, self._crew.stop)

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """Run ``fn(*args, **kwargs)`` in a worker thread; the running loop's future of it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        crew = self._crew
        thread = None
        with crew.lock:
            if crew.idle:
                crew.idle -= 1
            elif len(crew.threads) < self.limit:
                thread = threading.Thread(target=crew.work, name="sessionary-store", daemon=True)
                crew.threads.append(thread)
        crew.jobs.put((loop, future, fn, args, kwargs))
        if thread is not None:
            try:
                thread.start()
            except RuntimeError:  # no thread to be had: the call must not run later
                with crew.lock:
                    crew.threads.remove(thread)
                future.cancel()
                raise
        return future


class _Crew:
    """The threads' side of :class:`Workers`: it must not hold the owner, or it would never go."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0
        self.threads: list[threading.Thread] = []

    def work(self) -> None:
        get = self.jobs.get
        while True:
            job = get()
            if job is None:
                return
            loop, future, fn, args, kwargs = job
            del job
            result = error = None
            cancelled = future.cancelled()
            if not cancelled:
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:  # noqa: BLE001  (handed to the caller, whole)
                    error = exc
            # Idle before the reply: the caller's next call, often sent as soon
            # as the reply lands, finds this thread free instead of starting one.
            with self.lock:
                self.idle += 1
            if not cancelled:
                _reply(loop, future, result, error)
            # Hold nothing of the call while idle (a record, a traceback, a loop).
            del loop, future, fn, args, kwargs, result, error

    def stop(self) -> None:
        """End the threads once their calls are done (from any thread: no wait)."""
        for _ in range(len(self.threads)):
            self.jobs.put(None)

    def reset(self) -> None:
        # In a forked child, the parent's threads do not exist: start afresh.
        self.jobs = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0
        self.threads = []


def _reply(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    # A closed loop raises RuntimeError: nobody waits for this result any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


_CREWS: weakref.WeakSet[_Crew] = weakref.WeakSet()


@atexit.register
def _finish_calls() -> None:
    # Daemon threads, so that an idle one never holds the interpreter up; but
    # a call in hand ends before exit, as with the default executor's threads.
    for crew in list(_CREWS):
        crew.stop()
        for thread in list(crew.threads):
            if thread.is_alive():
                thread.join()


def _after_fork() -> None:
    for crew in list(_CREWS):
        crew.reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class InlineAsync(Store):
    """A store whose operations never wait: the async methods are the sync ones.

    Such a store is :attr:`~Store.inline`, and the runners skip its async face
    altogether, unless a subclass gives an async method its own body (a test
    double that waits, say): then it is run as written.
    """

    inline = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if any(name in cls.__dict__ for name in _ASYNC_FACE):
            cls.inline = False

    async def load(self, key: str) -> SessionRecord | None:
        return self.load_sync(key)

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        self.save_sync(key, record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        return self.apply_sync(key, change, base)

    async def delete(self, key: str) -> None:
        self.delete_sync(key)

    delete.__reports_revocation__ = True  # type: ignore[attr-defined]  # delete_sync reports

    async def forget(self, session_id: str) -> None:
        self.forget_sync(session_id)

    forget.__reports_revocation__ = True  # type: ignore[attr-defined]  # forget_sync reports

    async def exists(self, key: str) -> bool:
        return self.exists_sync(key)

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return self.clear_expired_sync(batch_size=batch_size, progress=progress)

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        return self.sessions_for_sync(user_id)

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        return self.revoke_sync(user_id, target, current=current)

    revoke.__reports_revocation__ = True  # type: ignore[attr-defined]  # revoke_sync reports

    async def migrate(self) -> bool:
        return self.migrate_sync()

    async def aclose(self) -> None:
        self.close()


_ASYNC_FACE = frozenset(
    name
    for name, value in vars(InlineAsync).items()
    if name not in ("aclose", "migrate") and asyncio.iscoroutinefunction(value)
)
