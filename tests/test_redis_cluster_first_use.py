"""Concurrent first commands on a fresh Redis Cluster client all succeed, on every new loop.

redis-py's asyncio cluster client loads its node table on first use; commands
racing that load used to be misrouted and then cut off mid-connect (an
``AttributeError`` from redis-py, a 500).
"""

from __future__ import annotations

import asyncio
import uuid

from sessionary._keys import new_key
from sessionary.stores import from_url
from sessionary.stores.base import Change, SessionRecord, Store

from .servers import redis_cluster

BURST = 50


def _record(now: float, value: str) -> SessionRecord:
    return SessionRecord("", {"a": f'"{value}"'}, now, now, now + 600, version=1)


async def _burst(store: Store, seeded: list[str]) -> list[str]:
    """50 concurrent first commands on this loop: loads, applies, must-create saves."""
    now = store.clock()
    change = Change(set={"b": '"2"'}, delete=frozenset(), last_seen=now, expires=now + 600)
    created = [new_key() for _ in range(BURST - 2 * len(seeded))]
    results = await asyncio.gather(
        *(store.load(key) for key in seeded),
        *(store.apply(key, change) for key in seeded),
        *(store.save(key, _record(now, "new"), must_create=True) for key in created),
    )
    loads, applies = results[: len(seeded)], results[len(seeded) : 2 * len(seeded)]
    assert all(r is not None and r.data["a"] == '"seed"' for r in loads)
    assert all(r is not None and r.data == {"a": '"seed"', "b": '"2"'} for r in applies)
    return created


def test_fifty_concurrent_first_commands_succeed_on_a_fresh_loop_and_the_next() -> None:
    url = f"{redis_cluster()}?prefix=sessionary-test-{uuid.uuid4().hex[:12]}:"
    store = from_url(url)
    written: list[str] = []
    try:
        for _ in range(2):  # a fresh loop, then another once the first has closed
            seeded = [new_key() for _ in range(BURST // 5)]
            written += seeded
            for key in seeded:  # through the sync client: the async one stays fresh
                store.save_sync(key, _record(store.clock(), "seed"))
            created = asyncio.run(_burst(store, seeded))
            written += created
            assert all(store.exists_sync(key) for key in created)
    finally:
        for key in written:
            store.delete_sync(key)
        store.close()
