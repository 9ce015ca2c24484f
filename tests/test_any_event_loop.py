"""Every store works from whichever event loop calls it.

One store object meets many loops in real use: Starlette's ``TestClient``
without ``with`` (FastAPI's documented pattern) runs each request on a new
loop, so do ``asyncio.run()`` called repeatedly and asgiref's
``async_to_sync`` (Django async code under WSGI), and pytest-asyncio gives
each test function its own loop around a module-level app. Each way, every
request must succeed, with no warning (the suite turns warnings into errors,
so a connection left open on a dead loop fails the test).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from asgiref.sync import async_to_sync
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import Session, SessionConfig, SessionMiddleware
from sessionary.stores.base import Store

from .store_registry import STORES

SECRET = "s" * 40


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    # The stores are built and torn down on a loop of their own, in a thread,
    # so that the loops under test are all strangers to them.
    with start_blocking_portal() as running:
        yield running


@pytest.fixture(scope="module", params=sorted(STORES))
def module_store(
    request: pytest.FixtureRequest, portal: BlockingPortal, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    factory = STORES[str(request.param)]
    tmp: Path = tmp_path_factory.mktemp("loops")
    with portal.wrap_async_context_manager(factory(tmp)) as store:
        yield store


def _config(store: Store) -> SessionConfig:
    return SessionConfig(store=store, secret_key=SECRET)


def _counter_app(store: Store) -> Starlette:
    async def count(request: Request) -> JSONResponse:
        request.session["n"] = request.session.get("n", 0) + 1
        return JSONResponse({"n": request.session["n"]})

    app = Starlette(routes=[Route("/count", count)])
    return SessionMiddleware(app, _config(store))  # type: ignore[return-value]


def test_testclient_without_with_runs_each_request_on_a_new_loop(module_store: Store) -> None:
    client = TestClient(_counter_app(module_store))
    for expected in range(1, 5):
        response = client.get("/count")
        assert response.status_code == 200
        assert response.json() == {"n": expected}


def test_asyncio_run_called_several_times_over_one_store(module_store: Store) -> None:
    config = _config(module_store)
    session = Session(config)
    session["visits"] = 0
    asyncio.run(session.save())
    key = session.session_key
    for visit in range(1, 4):
        again = Session(config, key)
        asyncio.run(again.load())
        assert again["visits"] == visit - 1
        again["visits"] = visit
        asyncio.run(again.save())
    assert asyncio.run(module_store.exists(key or "")) is True


def test_async_to_sync_over_store_calls(module_store: Store) -> None:
    config = _config(module_store)
    session = Session(config)
    session["via"] = "async_to_sync"
    async_to_sync(session.save)()
    for _ in range(3):
        again = Session(config, session.session_key)
        async_to_sync(again.load)()
        assert again["via"] == "async_to_sync"


async def _request(app: Any, cookie: str | None) -> tuple[int, Any, str | None]:
    """GET /count through an ASGI app, on the calling loop, with no client library."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/count",
        "raw_path": b"/count",
        "query_string": b"",
        "headers": [(b"cookie", f"sessionid={cookie}".encode())] if cookie else [],
        "server": ("t", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    for name, value in start["headers"]:
        if name == b"set-cookie" and value.startswith(b"sessionid="):
            cookie = value.split(b";", 1)[0].split(b"=", 1)[1].decode()
    return start["status"], json.loads(body), cookie


# pytest-asyncio gives each test function a loop of its own; these two share
# one module-level app (and store) across those loops.
_shared: dict[str, Any] = {}


async def test_module_level_app_serves_a_first_test_loop(module_store: Store) -> None:
    app = _shared.setdefault(f"app-{id(module_store)}", _counter_app(module_store))
    status, body, cookie = await _request(app, None)
    assert (status, body) == (200, {"n": 1})
    _shared[f"cookie-{id(module_store)}"] = cookie


async def test_module_level_app_serves_a_second_test_loop(module_store: Store) -> None:
    app = _shared.setdefault(f"app-{id(module_store)}", _counter_app(module_store))
    cookie = _shared.get(f"cookie-{id(module_store)}")
    status, body, _ = await _request(app, cookie)
    assert status == 200
    assert body == {"n": 2 if cookie else 1}


def test_a_thread_with_its_own_loop_shares_the_store(module_store: Store) -> None:
    config = _config(module_store)
    session = Session(config)
    session["thread"] = 1
    asyncio.run(session.save())

    async def read() -> Any:
        again = Session(config, session.session_key)
        await again.load()
        return again["thread"]

    with start_blocking_portal() as other:
        assert other.call(read) == 1
    assert asyncio.run(read()) == 1


def test_cookie_store_serves_requests_from_new_loops() -> None:
    # Nothing server-side, so nothing bound to a loop: pinned all the same.
    from sessionary.stores import from_url

    client = TestClient(_counter_app(from_url("cookie://")))
    for expected in range(1, 4):
        response = client.get("/count")
        assert response.status_code == 200
        assert response.json() == {"n": expected}


def _redis_connections(name: str) -> int:
    import redis

    with redis.Redis(port=6379) as direct:
        return sum(1 for client in direct.client_list() if client.get("name") == name)


def _postgresql_connections(name: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": name},
        ).scalar_one()
    engine.dispose()
    return int(count)


def test_connections_of_a_finished_loop_are_closed_with_it(tmp_path: Path) -> None:
    import uuid

    from .store_registry import require_server

    require_server("127.0.0.1", 6379, "Redis")
    require_server("127.0.0.1", 5432, "PostgreSQL")
    name = f"sessionary-loops-{uuid.uuid4().hex[:8]}"
    table = f"sessionary_loops_{uuid.uuid4().hex[:8]}"
    from sessionary.stores import from_url

    redis_store = from_url(
        f"redis://127.0.0.1:6379/0?prefix={name}:", client_options={"client_name": name}
    )
    pg_store = from_url(
        "postgresql://postgres@127.0.0.1:5432/test",
        table=table,
        engine_options={"connect_args": {"application_name": name}},
    )
    pg_store.migrate_sync()
    try:
        for store in (redis_store, pg_store):
            for _ in range(5):
                assert asyncio.run(store.load("a" * 32)) is None
        # Each loop's connections were closed as that loop shut down: none pile up.
        assert _redis_connections(name) == 0
        pg_store.close()  # the sync pool (migrate's connection) is not a loop's
        assert _postgresql_connections(name) == 0
    finally:
        redis_store.close()
        import sqlalchemy as sa

        engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
