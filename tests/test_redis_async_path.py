"""The async Redis path: a deadline per operation, not a task per command."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sessionary import Session, SessionConfig
from sessionary.stores.redis import RedisStore

from .conftest import SECRET
from .store_registry import require_server


async def test_a_session_cycle_starts_no_task() -> None:
    # redis-py's asyncio client with a socket_timeout runs every write as a
    # task of its own (asyncio.wait_for, Python 3.11); the store bounds each
    # operation with one timer instead, so a load and a save start none.
    require_server("127.0.0.1", 6379, "Redis")
    store = RedisStore(f"redis://127.0.0.1:6379/0?prefix=t{uuid.uuid4().hex[:8]}:")
    config = SessionConfig(store=store, secret_key=SECRET)
    first = Session(config)
    first["n"] = 0
    await first.save()
    loop = asyncio.get_running_loop()
    started: list[Any] = []
    default = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        started.append(coro)
        if default is not None:
            return default(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        for n in range(1, 6):
            session = Session(config, first.session_key)
            await session.load()
            assert session["n"] == n - 1
            session["n"] = n
            await session.save()
    finally:
        loop.set_task_factory(default)
        await store.aclose()
    assert started == []
