"""A sync backend's async face: each call, whole, on one of the store's own
threads, for whichever event loop awaits it."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any

import pytest

from sessionary.stores._adapters import InThread, Workers


class Backend:
    """Records the thread of each call; ``hold`` keeps a call running until released."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.closed = False

    def echo(self, value: Any, *, twice: bool = False) -> Any:
        self.threads.append(threading.current_thread())
        self.entered.set()
        self.hold.wait()
        return value * 2 if twice else value

    def fail(self) -> None:
        raise LookupError("from the worker")

    def close(self) -> None:
        self.closed = True


async def test_a_call_runs_off_the_loop_thread_and_returns_its_result() -> None:
    backend = Backend()
    face = InThread(backend)
    assert await face.echo(21, twice=True) == 42
    assert backend.threads[0] is not threading.current_thread()


async def test_an_error_reaches_the_caller_with_its_traceback() -> None:
    face = InThread(Backend())
    with pytest.raises(LookupError, match="from the worker") as caught:
        await face.fail()
    assert caught.traceback[-1].name == "fail"


async def test_aclose_runs_the_backends_close() -> None:
    backend = Backend()
    await InThread(backend).aclose()
    assert backend.closed


def test_one_face_serves_successive_and_second_loops() -> None:
    face = InThread(Backend())

    async def call(value: int) -> Any:
        return await face.echo(value)

    assert [asyncio.run(call(n)) for n in range(3)] == [0, 1, 2]
    # A loop in another thread, while the first loop is closed and replaced.
    second: list[Any] = []
    thread = threading.Thread(target=lambda: second.append(asyncio.run(call(7))))
    thread.start()
    thread.join()
    assert second == [7]
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(call(8)) == 8
    finally:
        loop.close()


async def test_a_call_cancelled_before_a_thread_takes_it_never_runs() -> None:
    backend = Backend()
    face = InThread(backend)
    face.workers.limit = 1
    backend.hold.clear()
    first = asyncio.ensure_future(face.echo(1))
    assert await asyncio.to_thread(backend.entered.wait, 30)
    queued = asyncio.ensure_future(face.echo(2))
    await asyncio.sleep(0)
    queued.cancel()
    backend.hold.set()
    assert await first == 1
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert await face.echo(3) == 3  # the next call runs: the queue moved past the cancelled one
    assert len(backend.threads) == 2  # the calls of 1 and 3, never 2


async def test_a_call_cancelled_while_running_ends_whole_and_its_result_is_dropped() -> None:
    backend = Backend()
    face = InThread(backend)
    backend.hold.clear()
    running = asyncio.ensure_future(face.echo(1))
    assert await asyncio.to_thread(backend.entered.wait, 30)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    backend.hold.set()
    assert await face.echo(2) == 2
    assert len(backend.threads) == 2


def test_a_loop_closed_while_its_call_runs_is_left_alone() -> None:
    backend = Backend()
    face = InThread(backend)
    face.workers.limit = 1  # the next call waits for this one's reply to be sent
    backend.hold.clear()
    loop = asyncio.new_event_loop()
    future = loop.run_until_complete(_submitted(face))
    assert backend.entered.wait(timeout=30)
    loop.close()
    backend.hold.set()  # the reply finds the loop closed: dropped, nothing raised
    assert asyncio.run(_call(face, 5)) == 5
    assert not future.done()


async def _submitted(face: InThread) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = face.echo(1)
    return future


async def _call(face: InThread, value: int) -> Any:
    return await face.echo(value)


async def test_threads_start_on_demand_up_to_the_limit() -> None:
    backend = Backend()
    face = InThread(backend)
    face.workers.limit = 2
    backend.hold.clear()
    calls = [asyncio.ensure_future(face.echo(n)) for n in range(5)]
    await asyncio.sleep(0)
    backend.hold.set()
    assert await asyncio.gather(*calls) == list(range(5))
    assert len(set(backend.threads)) <= 2
    # Sequential calls reuse an idle thread rather than start one.
    for n in range(5):
        await face.echo(n)
    assert len(set(backend.threads)) <= 2


def test_the_threads_end_when_their_workers_are_collected() -> None:
    workers = Workers()
    thread = asyncio.run(_thread_of_a_call(workers))
    assert thread.is_alive()
    gone = weakref.ref(workers)
    del workers
    gc.collect()
    assert gone() is None
    thread.join(timeout=30)  # a bound against a hang, not a timing
    assert not thread.is_alive()  # it took its stop and ended


async def _thread_of_a_call(workers: Workers) -> threading.Thread:
    thread: threading.Thread = await workers.submit(threading.current_thread, (), {})
    return thread
