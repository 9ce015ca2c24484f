"""A single Redis server's hot commands run on the store's own idle connections.

redis-py checks a connection out of its pool and back around every command;
the store's lane takes one from the pool only to grow. These tests hold it to
what the pool's checkout did: a connection the server closed while idle is
replaced (the command still succeeds), a forked child never shares its
parent's sockets, and a lane is visited per command while the pool is not.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import redis

from sessionary import Session, SessionConfig
from sessionary.stores._async.redis import Lane as AsyncLane
from sessionary.stores._sync.redis import Lane
from sessionary.stores.redis import RedisStore

from .conftest import SECRET
from .store_registry import require_server

URL = "redis://127.0.0.1:6379/0"


def _store() -> RedisStore:
    require_server("127.0.0.1", 6379, "Redis")
    return RedisStore(f"{URL}?prefix=lane{uuid.uuid4().hex[:8]}:")


def _sync_lane(store: RedisStore) -> Lane:
    lane = store._sync.handle().lane
    assert isinstance(lane, Lane)
    return lane


def _async_lane(store: RedisStore) -> AsyncLane:
    lane = store._async.handle().lane
    assert isinstance(lane, AsyncLane)
    return lane


def _connection_id(connection: Any) -> int:
    connection.send_command("CLIENT", "ID")
    return int(connection.read_response())


async def _async_connection_id(connection: Any) -> int:
    await connection.send_command("CLIENT", "ID")
    return int(await connection.read_response())


def _kill(client_id: int) -> None:
    with redis.Redis.from_url(URL) as admin:
        assert admin.client_kill_filter(_id=client_id) == 1


def _cycle_sync(config: SessionConfig, key: str | None, n: int) -> str:
    session = Session(config, key)
    if key is not None:
        session.load_sync()
        assert session["n"] == n - 1
    session["n"] = n
    session.save_sync()
    assert session.session_key is not None
    return session.session_key


async def _cycle_async(config: SessionConfig, key: str | None, n: int) -> str:
    session = Session(config, key)
    if key is not None:
        await session.load()
        assert session["n"] == n - 1
    session["n"] = n
    await session.save()
    assert session.session_key is not None
    return session.session_key


def test_sync_cycles_take_one_connection_from_the_pool() -> None:
    store = _store()
    config = SessionConfig(store=store, secret_key=SECRET)
    lane = _sync_lane(store)
    taken: list[Any] = []
    checkout = lane.pool.get_connection

    def counting(*args: Any, **kwargs: Any) -> Any:
        taken.append(args)
        return checkout(*args, **kwargs)

    lane.pool.get_connection = counting
    try:
        key = _cycle_sync(config, None, 0)
        for n in range(1, 20):
            key = _cycle_sync(config, key, n)
    finally:
        store.close()
    assert len(taken) == 1  # 39 commands, one checkout
    assert len(lane.idle) == 1


async def test_async_cycles_take_one_connection_from_the_pool() -> None:
    store = _store()
    config = SessionConfig(store=store, secret_key=SECRET)
    lane = _async_lane(store)
    taken: list[Any] = []
    checkout = lane.pool.get_connection

    async def counting(*args: Any, **kwargs: Any) -> Any:
        taken.append(args)
        return await checkout(*args, **kwargs)

    lane.pool.get_connection = counting
    try:
        key = await _cycle_async(config, None, 0)
        for n in range(1, 20):
            key = await _cycle_async(config, key, n)
    finally:
        await store.aclose()
    assert len(taken) == 1
    assert len(lane.idle) == 1


def test_sync_a_connection_closed_while_idle_is_replaced() -> None:
    store = _store()
    config = SessionConfig(store=store, secret_key=SECRET)
    try:
        key = _cycle_sync(config, None, 0)
        lane = _sync_lane(store)
        (connection,) = lane.idle
        before = _connection_id(connection)
        _kill(before)  # as a server restart or its idle timeout would
        key = _cycle_sync(config, key, 1)  # the load runs again on a new connection
        key = _cycle_sync(config, key, 2)
        (connection,) = lane.idle
        assert _connection_id(connection) != before
    finally:
        store.close()


async def test_async_a_connection_closed_while_idle_is_replaced() -> None:
    store = _store()
    config = SessionConfig(store=store, secret_key=SECRET)
    try:
        key = await _cycle_async(config, None, 0)
        lane = _async_lane(store)
        (connection,) = lane.idle
        before = await _async_connection_id(connection)
        _kill(before)
        key = await _cycle_async(config, key, 1)
        key = await _cycle_async(config, key, 2)
        (connection,) = lane.idle
        assert await _async_connection_id(connection) != before
    finally:
        await store.aclose()


def test_a_forked_child_opens_its_own_connection() -> None:
    store = _store()
    config = SessionConfig(store=store, secret_key=SECRET)
    try:
        key = _cycle_sync(config, None, 0)
        lane = _sync_lane(store)
        (connection,) = lane.idle
        parent = _connection_id(connection)
        pid = os.fork()
        if pid == 0:  # the child: its own socket, or a reply meant for the parent
            code = 1
            try:
                if not lane.idle:
                    _cycle_sync(config, key, 1)
                    (mine,) = lane.idle
                    code = 0 if _connection_id(mine) != parent else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        key = _cycle_sync(config, key, 2)  # the parent's connection is still its own
        (connection,) = lane.idle
        assert _connection_id(connection) == parent
    finally:
        store.close()


async def test_a_resp2_server_reply_is_read_the_same() -> None:
    # The lane reads replies as the connection parses them: HGETALL is a map on
    # RESP3 (redis-py's default) and a flat list on RESP2 (``?protocol=2``).
    require_server("127.0.0.1", 6379, "Redis")
    store = RedisStore(f"{URL}?protocol=2&prefix=lane{uuid.uuid4().hex[:8]}:")
    config = SessionConfig(store=store, secret_key=SECRET)
    try:
        key = _cycle_sync(config, None, 0)
        key = _cycle_sync(config, key, 1)
        key = await _cycle_async(config, key, 2)
        key = await _cycle_async(config, key, 3)
        assert _connection_protocol(_sync_lane(store)) == 2
    finally:
        store.close()
        await store.aclose()


def _connection_protocol(lane: Lane) -> int:
    (connection,) = lane.idle
    return int(connection.protocol)
