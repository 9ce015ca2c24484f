"""Network stores behind a proxy that stalls, drops and (for servers we own)
a server frozen with SIGSTOP: a request answers 503 within the store's
timeout, never hangs or 500s, and once the server answers again every session
reads back exactly as it was written: a connection whose command was cut
short never serves a later request the reply it still owed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sessionary import SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary.stores import from_url
from sessionary.stores._sql import engine_urls
from sessionary.stores.base import Store

from .apps import asgi_app, wsgi_app
from .faults import TcpProxy
from .servers import Killable, killable_memcached, killable_redis
from .store_registry import require_server

SECRET = "s" * 40
TIMEOUT = 1.0
# Scheduling on a shared, busy machine: a bound, not a benchmark.
SLACK = 2.0
VISITORS = 6


@dataclass
class Rig:
    store: Store
    proxy: TcpProxy | None = None
    server: Killable | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def _sql_rig(port: int, scheme: str, user: str) -> Rig:
    require_server("127.0.0.1", port, scheme)
    proxy = TcpProxy(port)
    table = f"sessionary_hung_{uuid.uuid4().hex[:10]}"
    url = f"{scheme}://{user}@127.0.0.1:{proxy.port}/test?timeout={TIMEOUT}"
    store = from_url(url, table=table)
    store.migrate_sync()

    def drop_table() -> None:
        engine = sa.create_engine(engine_urls(f"{scheme}://{user}@127.0.0.1:{port}/test")[0])
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()

    return Rig(store, proxy=proxy, cleanup=[drop_table])


def _prefix() -> str:
    return f"sessionary-hung-{uuid.uuid4().hex[:10]}:"


def _rig(kind: str) -> Rig:
    if kind == "postgresql":
        return _sql_rig(5432, "postgresql", "postgres")
    if kind == "mysql":
        return _sql_rig(3306, "mysql", "root")
    if kind == "redis":
        require_server("127.0.0.1", 6379, "Redis")
        proxy = TcpProxy(6379)
        prefix = _prefix()
        store = from_url(f"redis://127.0.0.1:{proxy.port}/0?prefix={prefix}&timeout={TIMEOUT}")

        def forget_keys() -> None:
            import redis

            client = redis.Redis(port=6379)
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)
            client.close()

        return Rig(store, proxy=proxy, cleanup=[forget_keys])
    require_server("127.0.0.1", 11211, "Memcached")
    proxy = TcpProxy(11211)
    store = from_url(f"memcached://127.0.0.1:{proxy.port}?prefix={_prefix()}&timeout={TIMEOUT}")
    return Rig(store, proxy=proxy)


@pytest.fixture(params=["postgresql", "mysql", "redis", "memcached"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    built = _rig(str(request.param))
    yield built
    assert built.proxy is not None
    built.proxy.resume()
    built.store.close()
    built.proxy.close()
    for step in built.cleanup:
        step()


def _frozen_rig(kind: str) -> Rig:
    server = killable_redis() if kind == "redis" else killable_memcached()
    prefix = _prefix()
    url = f"{kind}://127.0.0.1:{server.port}{'/0' if kind == 'redis' else ''}"
    return Rig(from_url(f"{url}?prefix={prefix}&timeout={TIMEOUT}"), server=server)


@pytest.fixture(params=["redis", "memcached"])
def frozen_rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    built = _frozen_rig(str(request.param))
    yield built
    assert built.server is not None
    assert built.server.process is not None
    os.kill(built.server.process.pid, signal.SIGCONT)
    built.store.close()
    built.server.kill()


def _config(store: Store) -> SessionConfig:
    return SessionConfig(store=store, secret_key=SECRET)


class Visitors:
    """Visitors of one app, through one middleware; each keeps a counter in its session."""

    def __init__(self, send: Callable[[str, str | None], Any]) -> None:
        self.send = send
        self.cookies: list[str] = []

    @staticmethod
    def cookie_of(response: httpx.Response) -> str | None:
        value = response.cookies.get("sessionid")
        return str(value) if value is not None else None


async def _asgi_send(client: httpx.AsyncClient, path: str, cookie: str | None) -> httpx.Response:
    headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
    response = await client.get(path, headers=headers)
    client.cookies.clear()  # each visitor sends its own cookie, and only that one
    return response


def _check_down(response: httpx.Response, started: float) -> None:
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert "set-cookie" not in response.headers  # no cookie dropped, none pointing at nothing
    assert elapsed < TIMEOUT + SLACK, f"answered after {elapsed:.1f} s"


async def _asgi_scenario(store: Store, fault: Callable[[], None], heal: Callable[[], None]) -> None:
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, _config(store)))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        cookies = []
        for n in range(VISITORS):
            response = await _asgi_send(client, f"/setint?n={n}", None)
            assert response.status_code == 200
            cookies.append(response.cookies["sessionid"])
        fault()
        started = time.monotonic()
        # Every visitor at once: each request holds a pooled connection when cut short.
        down = await asyncio.gather(*(_asgi_send(client, "/get?n", c) for c in cookies))
        for response in down:
            _check_down(response, started)
        heal()
        # Several rounds, so each pooled connection serves again.
        for _ in range(3):
            back = await asyncio.gather(*(_asgi_send(client, "/get?n", c) for c in cookies))
            assert [r.status_code for r in back] == [200] * VISITORS
            assert [r.json() for r in back] == [{"n": n} for n in range(VISITORS)]
            assert not any("set-cookie" in r.headers for r in back)
        write = await _asgi_send(client, "/setint?n=99", cookies[0])
        assert write.status_code == 200
        assert (await _asgi_send(client, "/get?n", cookies[0])).json() == {"n": 99}
    await store.aclose()


def _wsgi_scenario(store: Store, fault: Callable[[], None], heal: Callable[[], None]) -> None:
    transport = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, _config(store)))
    with httpx.Client(transport=transport, base_url="http://t") as client:

        def send(path: str, cookie: str | None) -> httpx.Response:
            headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
            response = client.get(path, headers=headers)
            client.cookies.clear()  # each visitor sends its own cookie, and only that one
            return response

        cookies = []
        for n in range(VISITORS):
            response = send(f"/setint?n={n}", None)
            assert response.status_code == 200
            cookies.append(response.cookies["sessionid"])
        fault()
        for cookie in cookies[:2]:
            started = time.monotonic()
            _check_down(send("/get?n", cookie), started)
        heal()
        for _ in range(3):
            back = [send("/get?n", c) for c in cookies]
            assert [r.status_code for r in back] == [200] * VISITORS
            assert [r.json() for r in back] == [{"n": n} for n in range(VISITORS)]
            assert not any("set-cookie" in r.headers for r in back)
        assert send("/setint?n=99", cookies[0]).status_code == 200
        assert send("/get?n", cookies[0]).json() == {"n": 99}


def test_stalled_server_answers_503_within_the_timeout_then_every_session_reads_back_asgi(
    rig: Rig,
) -> None:
    assert rig.proxy is not None
    asyncio.run(_asgi_scenario(rig.store, rig.proxy.stall, rig.proxy.resume))


def test_stalled_server_answers_503_within_the_timeout_then_every_session_reads_back_wsgi(
    rig: Rig,
) -> None:
    assert rig.proxy is not None
    _wsgi_scenario(rig.store, rig.proxy.stall, rig.proxy.resume)


def test_server_that_stops_accepting_answers_503_within_the_timeout_asgi(rig: Rig) -> None:
    proxy = rig.proxy
    assert proxy is not None
    # Warm connections dropped, new ones accepted and never answered.
    asyncio.run(_asgi_scenario(rig.store, proxy.blackhole, lambda: _reopen(proxy)))


def test_server_that_stops_accepting_answers_503_within_the_timeout_wsgi(rig: Rig) -> None:
    proxy = rig.proxy
    assert proxy is not None
    _wsgi_scenario(rig.store, proxy.blackhole, lambda: _reopen(proxy))


def _reopen(proxy: TcpProxy) -> None:
    proxy.cut()
    proxy.restore()


def test_dropped_connections_are_replaced_without_losing_a_session(rig: Rig) -> None:
    assert rig.proxy is not None
    proxy = rig.proxy

    async def scenario() -> None:
        transport = httpx.ASGITransport(SessionMiddleware(asgi_app, _config(rig.store)))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            cookies = []
            for n in range(VISITORS):
                created = await _asgi_send(client, f"/setint?n={n}", None)
                cookies.append(created.cookies["sessionid"])
            proxy.drop()  # a server restart: every pooled connection is dead
            for _ in range(2):
                back = await asyncio.gather(*(_asgi_send(client, "/get?n", c) for c in cookies))
                for n, response in enumerate(back):
                    assert response.status_code in (200, 503)  # never a 500
                    if response.status_code == 200:
                        assert response.json() == {"n": n}  # never a wrong or empty session
            back = await asyncio.gather(*(_asgi_send(client, "/get?n", c) for c in cookies))
            assert [r.status_code for r in back] == [200] * VISITORS
            assert [r.json() for r in back] == [{"n": n} for n in range(VISITORS)]
        await rig.store.aclose()

    asyncio.run(scenario())


def _freeze(server: Killable) -> Callable[[], None]:
    def freeze() -> None:
        assert server.process is not None
        pid = server.process.pid
        os.kill(pid, signal.SIGSTOP)
        # The signal takes effect asynchronously: wait until the kernel says stopped.
        for _ in range(200):
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "T":
                    return
            time.sleep(0.01)
        pytest.fail("the server did not stop")

    return freeze


def _thaw(server: Killable) -> Callable[[], None]:
    def thaw() -> None:
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGCONT)

    return thaw


def test_frozen_server_answers_503_within_the_timeout_then_every_session_reads_back_asgi(
    frozen_rig: Rig,
) -> None:
    server = frozen_rig.server
    assert server is not None
    asyncio.run(_asgi_scenario(frozen_rig.store, _freeze(server), _thaw(server)))


def test_frozen_server_answers_503_within_the_timeout_then_every_session_reads_back_wsgi(
    frozen_rig: Rig,
) -> None:
    server = frozen_rig.server
    assert server is not None
    _wsgi_scenario(frozen_rig.store, _freeze(server), _thaw(server))
