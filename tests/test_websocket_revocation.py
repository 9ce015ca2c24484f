"""Revoking a session closes its open WebSocket connections (close code 4401).

In one process at once (whatever ends the session: a logout, sign out
everywhere or everywhere else, ``store.revoke``, ``store.forget``); across
worker processes through the store: Redis publishes the ended key hashes,
other stores are polled every ``revocation_poll_interval`` seconds. Real
servers, real uvicorn workers, a real WebSocket client.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from starlette.applications import Starlette

from sessionary import SessionConfig
from sessionary._keys import hash_key
from sessionary._revocation import CLOSE_CODE, CLOSE_REASON
from sessionary.exceptions import ConfigurationError
from sessionary.stores import from_url
from sessionary.stores.base import ALL, Store

from .live_sockets import SECRET, Socket, app_for, free_port, log_in, post, workers
from .servers import killable_redis
from .store_registry import require_server

REDIS = "redis://127.0.0.1:6379/0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@asynccontextmanager
async def served(config: SessionConfig, app: Starlette | None = None) -> AsyncIterator[str]:
    """The app on a uvicorn server in this process and on this loop."""
    port = free_port()
    app = app or app_for(config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(1000):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def assert_revoked_close(socket: Socket, within: float) -> None:
    """The socket is closed, with the revocation's code and reason, within ``within`` seconds."""
    close = await socket.closed(within)
    assert (close.code, close.reason) == (CLOSE_CODE, CLOSE_REASON)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    require_server("127.0.0.1", 6379, "Redis")
    prefix = f"sessionary-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def postgres_table() -> Iterator[str]:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    table = f"sessionary_test_{uuid.uuid4().hex[:12]}"
    store = from_url(POSTGRES, table=table)
    store.migrate_sync()
    store.close()
    yield table
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def in_process(store: Store) -> SessionConfig:
    # No polling and no feed: only the in-process path can close the socket.
    return SessionConfig(store=store, secret_key=SECRET, revocation_poll_interval=None)


# -- one process ---------------------------------------------------------------


async def test_sign_out_everywhere_closes_the_users_open_websocket_at_once() -> None:
    async with served(in_process(from_url("memory://"))) as url:
        alice = await log_in(url, "alice")
        socket = await Socket.open(url, alice)
        assert await socket.echo("ping") == "alice:ping"
        phone = await log_in(url, "alice")  # the same user on another device
        assert (await post(url, "/everywhere", phone))["ended"] == 2
        await assert_revoked_close(socket, within=1.0)
        await socket.aclose()


async def test_a_socket_of_a_session_not_revoked_stays_open() -> None:
    async with served(in_process(from_url("memory://"))) as url:
        alice, bob = await log_in(url, "alice"), await log_in(url, "bob")
        laptop = await log_in(url, "alice")
        doomed = await Socket.open(url, alice)
        kept = [await Socket.open(url, bob), await Socket.open(url, laptop)]
        assert (await post(url, "/others", laptop))["ended"] == 1  # alice's other session
        await assert_revoked_close(doomed, within=1.0)
        assert await kept[0].echo("still") == "bob:still"
        assert await kept[1].echo("still") == "alice:still"
        for socket in [doomed, *kept]:
            await socket.aclose()


async def test_logout_closes_the_sessions_other_sockets() -> None:
    async with served(in_process(from_url("memory://"))) as url:
        alice = await log_in(url, "alice")
        tabs = [await Socket.open(url, alice), await Socket.open(url, alice)]
        await post(url, "/logout", alice)
        for tab in tabs:
            await assert_revoked_close(tab, within=1.0)
            await tab.aclose()


async def test_store_revoke_and_forget_called_directly_close_sockets_at_once() -> None:
    store = from_url("memory://")
    async with served(in_process(store)) as url:
        alice, bob = await log_in(url, "alice"), await log_in(url, "bob")
        by_revoke, by_forget = await Socket.open(url, alice), await Socket.open(url, bob)
        assert await store.revoke("alice", ALL) == 1
        await assert_revoked_close(by_revoke, within=1.0)
        store.forget_sync(hash_key(bob))  # the sync colour, from this thread
        await assert_revoked_close(by_forget, within=1.0)
        await by_revoke.aclose()
        await by_forget.aclose()


async def test_a_password_change_closes_the_sockets_of_the_sessions_it_ends() -> None:
    async with served(in_process(from_url("memory://"))) as url:
        alice = await log_in(url, "alice")
        socket = await Socket.open(url, alice)
        assert (await post(url, "/whoami", alice, method="GET"))["user"] == "alice"
        assert await socket.echo("ping") == "alice:ping"
        # The password changed elsewhere: get_user_id sees it and ends this session.
        assert (await post(url, "/whoami?password=v2", alice, method="GET"))["user"] is None
        await assert_revoked_close(socket, within=1.0)
        await socket.aclose()


async def test_a_handler_that_only_sends_learns_of_the_close_at_its_next_send() -> None:
    app = app_for(config := in_process(from_url("memory://")))
    async with served(config, app) as url:
        alice = await log_in(url, "alice")
        socket = await Socket.open(url, alice, "/push")
        await post(url, "/logout", alice)
        await assert_revoked_close(socket, within=1.0)
        await socket.aclose()
        for _ in range(100):
            if app.state.push_ended:
                break
            await asyncio.sleep(0.01)
        assert app.state.push_ended == [1006]  # Starlette's WebSocketDisconnect


async def test_polling_closes_a_socket_whose_session_ended_out_of_sight(tmp_path: Path) -> None:
    url_ = f"sqlite:///{tmp_path / 'sessions.db'}"
    store = from_url(url_)
    await store.migrate()
    config = SessionConfig(store=store, secret_key=SECRET, revocation_poll_interval=0.2)
    async with served(config) as url:
        alice, bob = await log_in(url, "alice"), await log_in(url, "bob")
        socket, kept = await Socket.open(url, alice), await Socket.open(url, bob)
        elsewhere = from_url(url_)  # as another process sees the file: no report reaches us
        await elsewhere.forget(hash_key(alice))
        await elsewhere.aclose()
        await assert_revoked_close(socket, within=0.2 + 1.0)
        assert await kept.echo("still") == "bob:still"
        await socket.aclose()
        await kept.aclose()


# -- two worker processes ------------------------------------------------------


async def test_sign_out_everywhere_on_one_worker_closes_the_socket_on_another_via_redis(
    redis_prefix: str,
) -> None:
    store_url = f"{REDIS}?prefix={redis_prefix}"
    with workers(2, store_url) as (a, b):
        alice, bob = await log_in(a, "alice"), await log_in(a, "bob")
        socket, kept = await Socket.open(a, alice), await Socket.open(a, bob)
        assert await socket.echo("ping") == "alice:ping"  # registered (and subscribed)
        await asyncio.sleep(0.3)
        assert (await post(b, "/everywhere", alice))["ended"] == 1
        await assert_revoked_close(socket, within=1.0)
        assert await kept.echo("still") == "bob:still"
        await socket.aclose()
        await kept.aclose()


async def test_a_revocation_from_outside_any_worker_reaches_the_socket_via_redis(
    redis_prefix: str,
) -> None:
    store_url = f"{REDIS}?prefix={redis_prefix}"
    with workers(1, store_url) as (a,):
        alice = await log_in(a, "alice")
        socket = await Socket.open(a, alice)
        await socket.echo("ping")
        await asyncio.sleep(0.3)
        store = from_url(store_url)  # another process's store, as the CLI's
        assert store.revoke_sync("alice", ALL) == 1
        store.close()
        await assert_revoked_close(socket, within=1.0)
        await socket.aclose()


async def test_redis_revocation_messages_carry_key_hashes_only(redis_prefix: str) -> None:
    store_url = f"{REDIS}?prefix={redis_prefix}"
    client: Any = redis.Redis.from_url(REDIS)
    pubsub = client.pubsub()
    pubsub.subscribe(f"{redis_prefix}revoked")
    async with served(SessionConfig(store=store_url, secret_key=SECRET)) as url:
        alice = await log_in(url, "alice")
        await post(url, "/everywhere", alice)
    messages: list[str] = []
    # Every message was published before the response: they arrive in order,
    # sign out everywhere's last, so the wait ends with alice's.
    deadline = time.monotonic() + 2
    while hash_key(alice) not in messages and time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            messages.append(message["data"].decode())
    pubsub.close()
    client.close()
    # The login's rotation ended the anonymous key (none here: no session
    # before login); sign out everywhere ended alice's key.
    assert hash_key(alice) in messages
    for message in messages:
        assert len(message) == 64
        assert set(message) <= set("0123456789abcdef")
        assert alice not in message
        assert "alice" not in message


async def test_sign_out_everywhere_on_one_worker_closes_the_socket_on_another_by_polling_sql(
    postgres_table: str,
) -> None:
    interval = 0.5
    with workers(2, POSTGRES, table=postgres_table, poll=interval) as (a, b):
        alice, bob = await log_in(a, "alice"), await log_in(a, "bob")
        socket, kept = await Socket.open(a, alice), await Socket.open(a, bob)
        assert (await post(b, "/everywhere", alice))["ended"] == 1
        await assert_revoked_close(socket, within=interval + 1.0)
        assert await kept.echo("still") == "bob:still"
        await socket.aclose()
        await kept.aclose()


# -- configuration -------------------------------------------------------------


def test_revocation_poll_interval_is_positive_seconds_or_none() -> None:
    assert SessionConfig(store="memory://").revocation_poll_interval == 5.0
    assert SessionConfig(store="memory://", revocation_poll_interval=0.25)
    assert SessionConfig(store="memory://", revocation_poll_interval=None)
    for bad in (0, -1, True, "5"):
        with pytest.raises(ConfigurationError, match="revocation_poll_interval"):
            SessionConfig(store="memory://", revocation_poll_interval=bad)  # type: ignore[arg-type]
    env = {"SESSIONARY_STORE_URL": "memory://", "SESSIONARY_REVOCATION_POLL_INTERVAL": "2.5"}
    assert SessionConfig.from_env(env).revocation_poll_interval == 2.5


async def subscribed_again(port: int, channel: str) -> None:
    """Wait (5 s at most) until the restarted server counts a subscriber on ``channel``."""
    client: Any = redis.Redis(port=port)
    deadline = time.monotonic() + 5
    try:
        while client.pubsub_numsub(channel) != [(channel.encode(), 1)]:
            assert time.monotonic() < deadline, "the revocation feed did not subscribe again"
            await asyncio.sleep(0.05)
    finally:
        client.close()


async def test_the_redis_feed_outlives_a_server_restart_and_an_outage_closes_nothing() -> None:
    server = killable_redis()
    store_url = f"redis://127.0.0.1:{server.port}/0?prefix=live:"
    try:
        async with served(in_process(from_url(store_url))) as url:
            alice = await log_in(url, "alice")
            socket = await Socket.open(url, alice)
            await socket.echo("ping")
            server.kill()
            await asyncio.sleep(1.5)  # the feed is lost
            server.start()
            await subscribed_again(server.port, "live:revoked")
            assert await socket.echo("still") == "alice:still"
            other = from_url(store_url)  # another process's store: only the feed can tell
            assert await other.revoke("alice", ALL) == 1
            await other.aclose()
            await assert_revoked_close(socket, within=1.0)
            await socket.aclose()
    finally:
        server.kill()
