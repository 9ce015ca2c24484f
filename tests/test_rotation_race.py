"""Rotation that cannot be raced: concurrent ``cycle_key()`` of one session
ends with one successor, a request still carrying the old key within the
grace window is served the successor and writes into it, and after the
window the old key is dead. Every server-side store, both store APIs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from sessionary import Session, SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary._ops import Apply, Create, Op, Steps, run_sync
from sessionary.exceptions import StoreError
from sessionary.stores.base import Store

from .apps import asgi_app, wsgi_app
from .conftest import SECRET, Client, FakeClock

RACERS = 20


@pytest.fixture
def config(store: Store) -> SessionConfig:
    if store.client_side:
        pytest.skip("a client-side store keeps no record to rotate: cycle_key() is unchanged")
    return SessionConfig(store=store, secret_key=SECRET)


async def _seeded(config: SessionConfig) -> str:
    first = Session(config)
    first["seed"] = 0
    await first.save()
    assert first.session_key is not None
    return first.session_key


async def _opened(config: SessionConfig, key: str | None) -> Session:
    session = Session(config, key)
    await session.load()
    return session


async def _assert_one_successor(
    config: SessionConfig, clock: FakeClock, old: str, keys: set[str | None], names: set[str]
) -> None:
    """Every acknowledged write is on the one successor, which alone outlives the window."""
    (successor,) = keys - {old}
    assert successor is not None
    on_successor = await _opened(config, successor)
    assert set(on_successor.keys()) == names
    clock.advance(config.rotation_grace)
    assert (await _opened(config, old)).session_key is None
    assert (await _opened(config, successor)).keys() == on_successor.keys()


async def test_twenty_concurrent_rotations_and_writers_leave_one_successor_and_every_write(
    config: SessionConfig, clock: FakeClock
) -> None:
    old = await _seeded(config)
    # Every request reads the old key before any commits: the worst overlap.
    rotators = await asyncio.gather(*(_opened(config, old) for _ in range(RACERS)))
    writers = await asyncio.gather(*(_opened(config, old) for _ in range(RACERS)))
    for n, session in enumerate(rotators):
        session.cycle_key()
        session[f"r{n}"] = n
    for n, session in enumerate(writers):
        session[f"w{n}"] = n
    await asyncio.gather(*(s.save() for s in [*rotators, *writers]))
    rotated = {s.session_key for s in rotators}
    assert len(rotated) == 1
    assert old not in rotated
    written = {s.session_key for s in writers}
    assert written <= rotated | {old}
    names = {"seed", *(f"r{n}" for n in range(RACERS)), *(f"w{n}" for n in range(RACERS))}
    await _assert_one_successor(config, clock, old, rotated | written, names)


async def test_concurrent_rotations_and_writers_through_the_sync_api(
    config: SessionConfig, clock: FakeClock
) -> None:
    old = await _seeded(config)
    loaded = threading.Barrier(2 * RACERS)

    def request(n: int) -> str | None:
        session = Session(config, old)
        session.load_sync()
        loaded.wait(timeout=30)
        if n % 2:
            session.cycle_key()
        session[f"k{n}"] = n
        session.save_sync()
        return session.session_key

    with ThreadPoolExecutor(2 * RACERS) as pool:
        keys = list(pool.map(request, range(2 * RACERS)))
    rotated = {keys[n] for n in range(1, 2 * RACERS, 2)}
    assert len(rotated) == 1
    assert old not in rotated
    assert set(keys) <= rotated | {old}
    names = {"seed", *(f"k{n}" for n in range(2 * RACERS))}
    await _assert_one_successor(config, clock, old, set(keys), names)


async def test_a_request_with_the_old_key_inside_the_window_gets_the_successor(
    config: SessionConfig, clock: FakeClock
) -> None:
    old = await _seeded(config)
    rotating = await _opened(config, old)
    rotating.cycle_key()
    await rotating.save()
    new = rotating.session_key
    clock.advance(config.rotation_grace - 1)
    late = await _opened(config, old)
    assert late.session_key == new
    assert late["seed"] == 0
    late["late"] = 1
    late.cycle_key()  # joins the rotation it followed: no second successor
    await late.save()
    assert late.session_key == new
    assert (await _opened(config, new))["late"] == 1


async def test_a_write_in_flight_during_a_rotation_lands_on_the_successor(
    config: SessionConfig, clock: FakeClock
) -> None:
    old = await _seeded(config)
    in_flight = await _opened(config, old)
    rotating = await _opened(config, old)
    rotating.cycle_key()
    await rotating.save()
    in_flight["x"] = 1
    await in_flight.save()
    assert in_flight.session_key == rotating.session_key
    assert (await _opened(config, rotating.session_key))["x"] == 1
    # The write to the old record did not extend it past the window.
    record = await config.store.load(old)
    assert record is not None
    assert record.expires <= clock() + config.rotation_grace


async def test_after_the_window_the_old_key_is_dead(
    config: SessionConfig, clock: FakeClock
) -> None:
    old = await _seeded(config)
    writer = await _opened(config, old)
    rotating = await _opened(config, old)
    rotating.cycle_key()
    await rotating.save()
    clock.advance(config.rotation_grace)
    assert (await _opened(config, old)).session_key is None
    writer["x"] = 1
    await writer.save()
    assert writer.gone
    assert "x" not in (await _opened(config, rotating.session_key))


async def test_a_logout_on_the_successor_ends_the_old_key_too(config: SessionConfig) -> None:
    old = await _seeded(config)
    rotating = await _opened(config, old)
    rotating.cycle_key()
    await rotating.save()
    rotating.flush()
    await rotating.save()
    assert (await _opened(config, old)).session_key is None


async def test_the_absolute_timeout_holds_across_rotations_and_their_windows(
    store: Store, clock: FakeClock
) -> None:
    if store.client_side:
        pytest.skip("server-side rotation only")
    config = SessionConfig(store=store, secret_key=SECRET, absolute_timeout=3600)
    key = await _seeded(config)
    old = key
    for wait in (600, 600, 600, 600, 600, 598):  # the last rotation at 3598 s
        clock.advance(wait)
        rotating = await _opened(config, key)
        rotating.cycle_key()
        await rotating.save()
        assert rotating.session_key is not None
        old, key = key, rotating.session_key
    clock.advance(1)
    assert (await _opened(config, old)).session_key == key  # a stale request, in the window
    clock.advance(2)
    # 3601 s: the old key's window is still open, but the session is over.
    assert (await _opened(config, key)).session_key is None
    assert (await _opened(config, old)).session_key is None


async def test_without_a_grace_window_the_old_key_dies_at_once(
    config: SessionConfig,
) -> None:
    strict = config.replace(rotation_grace=0)
    old = await _seeded(strict)
    rotating = await _opened(strict, old)
    rotating.cycle_key()
    await rotating.save()
    assert not await strict.store.exists(old)
    assert (await _opened(strict, old)).session_key is None


# -- a scripted interleaving: the write that lands between snapshot and marker --


def _one(op: Op) -> Steps[Any]:
    return (yield op)


class Stepper:
    """Runs a commit's steps one store operation at a time, on the real store."""

    def __init__(self, store: Store, steps: Generator[Op, Any, None]) -> None:
        self.store, self.steps = store, steps
        self.next: Op | None = steps.send(None)

    def step(self) -> Op:
        op = self.next
        assert op is not None
        error: StoreError | None = None
        result: Any = None
        try:
            result = run_sync(self.store, _one(op))
        except StoreError as exc:
            error = exc
        try:
            self.next = self.steps.throw(error) if error else self.steps.send(result)
        except StopIteration:
            self.next = None
        return op

    def until(self, wanted: Callable[[Op], bool]) -> None:
        while self.next is not None and not wanted(self.next):
            self.step()

    def finish(self) -> None:
        while self.next is not None:
            self.step()


async def test_writes_landing_between_the_snapshot_and_the_marker_reach_the_successor(
    config: SessionConfig,
) -> None:
    old = await _seeded(config)
    winner, loser, writer, follower = [await _opened(config, old) for _ in range(4)]
    winner.cycle_key()
    winner["w"] = 1
    loser.cycle_key()
    loser["l"] = 1
    writer["x"] = 1
    win = Stepper(config.store, winner.commit_plan())
    win.until(lambda op: isinstance(op, Create) and op.key == winner.session_key)
    # Claimed and read afresh; the successor is not created yet.
    Stepper(config.store, writer.commit_plan()).finish()  # lands on the old record
    Stepper(config.store, loser.commit_plan()).finish()  # loses the claim, joins
    assert loser.session_key == winner.session_key
    win.until(lambda op: isinstance(op, Apply) and op.key == winner.session_key)
    # Marked, late writes not yet carried: a follower still reaches the successor.
    follow = Stepper(config.store, follower.load_plan())
    follow.finish()
    assert follower.session_key == winner.session_key
    win.finish()
    assert writer.session_key == old  # its response keeps the old key, which leads on
    successor = await _opened(config, winner.session_key)
    assert dict(successor.items()) == {"seed": 0, "w": 1, "l": 1, "x": 1}


# -- through HTTP: the burst that follows a login redirect --------------------


def _cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == "sessionid":
            return rest.split(";", 1)[0]
    return None


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_a_burst_after_a_login_redirect_still_carrying_the_old_cookie_succeeds(
    config: SessionConfig, clock: FakeClock, kind: str
) -> None:
    if kind == "asgi":
        transport: Any = httpx.ASGITransport(SessionMiddleware(asgi_app, config))

        async def send(path: str, cookie: str | None) -> httpx.Response:
            headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.get(path, headers=headers)

        async def burst(paths: list[str], cookie: str) -> list[httpx.Response]:
            return list(await asyncio.gather(*(send(p, cookie) for p in paths)))
    else:
        wsgi = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))

        def call(path: str, cookie: str | None) -> httpx.Response:
            headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
            with httpx.Client(transport=wsgi, base_url="http://t") as c:
                return c.get(path, headers=headers)

        async def send(path: str, cookie: str | None) -> httpx.Response:
            return call(path, cookie)

        async def burst(paths: list[str], cookie: str) -> list[httpx.Response]:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(lambda p: call(p, cookie), paths))

    old = _cookie(await send("/set?a=1", None))
    assert old is not None
    new = _cookie(await send("/cycle", old))  # the login, answered with a redirect
    assert new not in (None, old)
    # The browser's next requests were sent before it stored the new cookie.
    responses = await burst([f"/set?b{n}={n}" for n in range(RACERS)], old)
    assert [r.status_code for r in responses] == [200] * RACERS
    assert {_cookie(r) for r in responses} == {new}
    everything = (await send("/all", new)).json()
    assert everything == {"a": "1", **{f"b{n}": str(n) for n in range(RACERS)}}
    clock.advance(config.rotation_grace)
    assert (await send("/get?a=", old)).json() == {"a": None}


# -- another device holding the old key gets nothing --------------------------

BROWSER = {"ua": "Firefox/140", "ip": "192.0.2.7"}
ELSEWHERE = {"ua": "curl/8", "ip": "198.51.100.9"}


async def test_another_device_holding_the_old_key_gets_nothing_in_the_window(
    config: SessionConfig,
) -> None:
    old = await _seeded(config)
    # A key planted before sign-in (fixation), or copied: the other device
    # polls with it, waits for the rotation, and has a slow write in flight.
    in_flight = Session(config, old, client=ELSEWHERE)
    await in_flight.load()
    rotating = Session(config, old, client=BROWSER)
    await rotating.load()
    rotating.cycle_key()
    rotating["signed_in"] = True
    await rotating.save()
    polling = Session(config, old, client=ELSEWHERE)
    await polling.load()
    assert polling.session_key is None
    in_flight["x"] = 1
    await in_flight.save()
    assert in_flight.gone
    assert in_flight.session_key is None
    same_browser = Session(config, old, client=BROWSER)
    await same_browser.load()
    assert same_browser.session_key == rotating.session_key
    assert "x" not in same_browser


async def test_a_rotation_from_another_device_does_not_join_the_first(
    config: SessionConfig,
) -> None:
    old = await _seeded(config)
    mine = Session(config, old, client=BROWSER)
    theirs = Session(config, old, client=ELSEWHERE)
    await mine.load()
    await theirs.load()
    mine.cycle_key()
    theirs.cycle_key()
    theirs["planted"] = 1
    await mine.save()
    await theirs.save()
    assert theirs.gone
    assert theirs.session_key is None
    successor = await _opened(config, mine.session_key)
    assert "planted" not in successor


async def test_over_http_the_old_cookie_from_another_browser_opens_nothing(
    make_client: Callable[..., Client], store: Store
) -> None:
    if store.client_side:
        pytest.skip("server-side rotation only")
    browser = make_client()
    await browser.get("/set?a=1")
    old = browser.cookies["sessionid"]
    await browser.get("/cycle")
    other = make_client()
    other.cookies["sessionid"] = old
    response = await other.get("/get?a=", headers={"user-agent": "curl/8"})
    assert response.json() == {"a": None}
    assert browser.cookies["sessionid"] not in response.headers.get("set-cookie", "")
    again = make_client()
    again.cookies["sessionid"] = old
    assert (await again.get("/get?a=")).json() == {"a": "1"}  # the browser itself
