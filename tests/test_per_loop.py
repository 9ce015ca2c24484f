"""Driver resources follow the event loop: one per running loop, closed on
that loop when it shuts down, and a bounded number kept."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from anyio.from_thread import start_blocking_portal

from sessionary.stores._loops import AsyncPerLoop, SyncPerLoop


class Resources:
    """Records which loop made and which loop closed each resource."""

    def __init__(self) -> None:
        self.made: list[asyncio.AbstractEventLoop] = []
        self.closed: list[tuple[int, asyncio.AbstractEventLoop]] = []
        self.closed_event = threading.Event()

    def make(self) -> int:
        self.made.append(asyncio.get_running_loop())
        return len(self.made) - 1

    async def close(self, resource: int) -> None:
        self.closed.append((resource, asyncio.get_running_loop()))
        self.closed_event.set()


async def test_one_loop_reuses_its_resource() -> None:
    resources = Resources()
    per_loop = AsyncPerLoop(resources.make, resources.close)
    assert per_loop.get() == per_loop.get() == 0
    await per_loop.aclose()
    assert resources.closed == [(0, asyncio.get_running_loop())]


def test_each_loop_gets_its_own_resource_closed_on_it_at_shutdown() -> None:
    resources = Resources()
    per_loop = AsyncPerLoop(resources.make, resources.close)

    async def use() -> int:
        return per_loop.get()

    assert [asyncio.run(use()) for _ in range(3)] == [0, 1, 2]
    # Closed as each asyncio.run() shut its loop down, on that very loop.
    assert [(n, loop) for n, loop in resources.closed] == list(enumerate(resources.made))


def test_a_loop_closed_without_shutting_down_is_forgotten_quietly() -> None:
    resources = Resources()
    per_loop = AsyncPerLoop(resources.make, resources.close)

    async def use() -> int:
        return per_loop.get()

    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(use()) == 0
    loop.close()  # no shutdown_asyncgens: its resource cannot be closed on it
    assert asyncio.run(use()) == 1  # a new loop, a new resource; no warning raised
    assert [n for n, _ in resources.closed] == [1]


def test_beyond_the_limit_the_oldest_live_loop_closes_its_resource_on_its_loop() -> None:
    resources = Resources()
    per_loop = AsyncPerLoop(resources.make, resources.close, limit=2)

    async def use() -> int:
        return per_loop.get()

    with (
        start_blocking_portal() as first,
        start_blocking_portal() as second,
        start_blocking_portal() as third,
    ):
        assert [p.call(use) for p in (first, second, third)] == [0, 1, 2]
        assert resources.closed_event.wait(5)
        assert resources.closed[0] == (0, resources.made[0])
        assert first.call(use) == 3  # the first loop, back: a fresh resource


def test_threads_racing_the_first_sync_use_share_one_resource() -> None:
    made: list[object] = []
    closed: list[object] = []

    def create() -> object:
        time.sleep(0.01)  # widen the window the threads race in
        made.append(object())
        return made[-1]

    holder = SyncPerLoop(create, closed.append)
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda _: holder.get(), range(16)))
    assert len(made) == 1
    assert all(resource is made[0] for resource in got)
    holder.close()
    assert closed == made
