"""Sliding expiry with throttled writes (``refresh_after``): reading a session
extends it, but the store is written at most once per ``refresh_after``."""

from __future__ import annotations

from collections.abc import Callable

from sessionary.events import SessionEvent

from .conftest import Client, FakeClock


async def test_reading_a_session_keeps_it_alive_past_its_cookie_age(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(cookie_age=3600, refresh_after=600)
    await client.get("/set?a=1")
    for _ in range(20):  # 6000 s of read-only visits, 300 s apart
        clock.advance(300)
        assert (await client.get("/get?a=")).json() == {"a": "1"}
    clock.advance(3601)
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_a_read_writes_only_once_refresh_after_has_passed(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(cookie_age=3600, refresh_after=600)
    await client.get("/set?a=1")
    clock.advance(599)
    assert "set-cookie" not in (await client.get("/get?a=")).headers
    clock.advance(1)
    touched = await client.get("/get?a=")
    assert "Max-Age=3600" in touched.headers["set-cookie"]


async def test_sliding_expiry_never_passes_the_absolute_timeout(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(cookie_age=3600, refresh_after=60, absolute_timeout=1800)
    await client.get("/set?a=1")
    for _ in range(17):
        clock.advance(100)
        assert (await client.get("/get?a=")).json() == {"a": "1"}
    clock.advance(101)
    assert (await client.get("/get?a=")).json() == {"a": None}


async def _writes_for_an_hour_of_reads(
    make_client: Callable[..., Client], clock: FakeClock, **options: object
) -> int:
    saves: list[SessionEvent] = []

    def count(event: SessionEvent) -> None:
        if event.kind == "saved":
            saves.append(event)

    client = make_client(cookie_age=7200, event_hooks=[count], **options)
    await client.get("/set?a=1")
    for _ in range(100):  # one read every 36 s for an hour
        clock.advance(36)
        assert (await client.get("/get?a=")).json() == {"a": "1"}
    return len(saves)


async def test_an_hour_of_reads_writes_once_per_refresh_after(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    throttled = await _writes_for_an_hour_of_reads(make_client, clock, refresh_after=600)
    every = await _writes_for_an_hour_of_reads(make_client, clock, save_every_request=True)
    assert every == 100
    assert 5 <= throttled <= 6
