"""Beyond Django: no lost updates, logout races, idle and absolute timeouts,
the per-user index from the command line. Run over every registered store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionary import Session, SessionConfig, SessionMiddleware, auth
from sessionary.cli import main
from sessionary.stores.base import Store

from .conftest import SECRET, Client, FakeClock

CONCURRENT = 50


def _app(barrier: asyncio.Barrier | None, gate: dict[str, asyncio.Event]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        session: Session = scope["session"]
        path = scope["path"]
        if path == "/start":
            session["start"] = True
        elif path.startswith("/write/"):
            if barrier is not None:
                await barrier.wait()  # every request has loaded before any commits
            session[path.rsplit("/", 1)[1]] = 1
        elif path == "/slow-write":
            gate["loaded"].set()
            await gate["release"].wait()
            session["late"] = "write"
        elif path == "/logout":
            auth.logout(session)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def _client(app: Any, config: SessionConfig, cookie: str | None = None) -> httpx.AsyncClient:
    headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(SessionMiddleware(app, config)),
        base_url="http://t",
        headers=headers,
    )


async def _start(app: Any, config: SessionConfig) -> str:
    async with _client(app, config) as c:
        response = await c.get("/start")
    return str(response.cookies["sessionid"])


async def test_concurrent_requests_lose_no_update(store: Store) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    app = _app(asyncio.Barrier(CONCURRENT), {})
    key = await _start(_app(None, {}), config)
    async with _client(app, config, key) as c:
        responses = await asyncio.gather(*(c.get(f"/write/k{i}") for i in range(CONCURRENT)))
    assert all(r.status_code == 200 for r in responses)
    session = Session(config, key)
    await session.load()
    assert {f"k{i}" for i in range(CONCURRENT)} <= set(session.keys())


async def test_logout_racing_a_slow_write_stays_logged_out(store: Store) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    gate = {"loaded": asyncio.Event(), "release": asyncio.Event()}
    app = _app(None, gate)
    key = await _start(app, config)
    async with _client(app, config, key) as c:
        slow = asyncio.create_task(c.get("/slow-write"))
        await gate["loaded"].wait()
        logout = await c.get("/logout")
        assert "Max-Age=0" in logout.headers["set-cookie"]
        gate["release"].set()
        late = await slow
    assert late.status_code == 200
    assert "Max-Age=0" in late.headers["set-cookie"]  # no live cookie for the dead key
    assert not await store.exists(key)
    assert await store.load(key) is None


async def test_idle_timeout_ends_an_idle_session_but_not_a_used_one(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(idle_timeout=100)
    await client.get("/set?a=1")
    for _ in range(4):  # read-only visits every 50s keep it alive past 100s
        clock.advance(50)
        assert (await client.get("/get?a=")).json() == {"a": "1"}
    clock.advance(101)
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_absolute_timeout_ends_even_an_active_session(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(absolute_timeout=300)
    await client.get("/set?a=1")
    for i in range(2):
        clock.advance(100)
        await client.get(f"/set?b={i}")
        assert (await client.get("/get?a=")).json() == {"a": "1"}
    clock.advance(101)
    assert (await client.get("/get?a=")).json() == {"a": None}


def test_cli_lists_and_revokes_a_users_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["migrate", "--store", url]) == 0
    config = SessionConfig(store=url)
    keys = []
    for _ in range(3):
        s = Session(config)
        auth.login(s, "carol")
        s.save_sync()
        assert s.session_key is not None
        keys.append(s.session_key)
    config.store.close()
    capsys.readouterr()
    assert main(["sessions", "list", "--user", "carol", "--store", url]) == 0
    listing = capsys.readouterr().out
    assert "3 live session(s)" in listing
    assert not any(k in listing for k in keys)
    first_id = listing.splitlines()[2].split()[0]  # after the count and the header
    assert (
        main(["sessions", "revoke", "--user", "carol", "--session", first_id, "--store", url]) == 0
    )
    assert "revoked 1" in capsys.readouterr().out
    assert main(["sessions", "revoke", "--user", "carol", "--store", url]) == 0
    assert "revoked 2" in capsys.readouterr().out
    assert main(["sessions", "list", "--user", "carol", "--store", url]) == 0
    assert "0 live session(s)" in capsys.readouterr().out
