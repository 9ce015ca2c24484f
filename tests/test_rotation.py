"""Key rotation: ``cycle_key()`` moves the session to a fresh key without
letting it escape the absolute timeout or lose its user and metadata."""

from __future__ import annotations

from collections.abc import Callable

from sessionary import Session, SessionConfig, auth
from sessionary.stores.base import Store

from .conftest import SECRET, Client, FakeClock


async def test_rotating_every_ten_minutes_does_not_outlive_the_absolute_timeout(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(absolute_timeout=3600)
    await client.get("/set?a=1")
    keys = set()
    # Five rotations, ten minutes apart: the session lives on each new key ...
    for _ in range(5):
        clock.advance(600)
        keys.add((await client.get("/cycle")).json()["key"])
        assert (await client.get("/get?a=")).json() == {"a": "1"}
    assert len(keys) == 5
    # ... and dies at 3600 s after its creation, not after the last rotation.
    clock.advance(599)
    assert (await client.get("/get?a=")).json() == {"a": "1"}
    clock.advance(2)
    assert (await client.get("/get?a=")).json() == {"a": None}


async def test_a_rotated_session_keeps_its_creation_time_user_and_metadata(
    store: Store, clock: FakeClock
) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    first = Session(config, client={"ua": "Firefox/130", "ip": "192.0.2.7"})
    auth.login(first, "ada", auth_hash="pw-1")
    first["cart"] = [1]
    await first.save()
    created = first.created_at
    clock.advance(120)
    later = Session(config, first.session_key, client={"ua": "curl/8", "ip": "198.51.100.1"})
    await later.load()
    later.cycle_key()
    await later.save()
    assert later.session_key != first.session_key
    assert later.created_at == created
    rotated = Session(config, later.session_key)
    await rotated.load()
    assert rotated.created_at == created
    assert rotated["cart"] == [1]
    assert auth.get_user_id(rotated, auth_hash="pw-1") == "ada"
    if not store.client_side:
        (info,) = await store.sessions_for("ada")
        assert info.session_id == rotated.key_hash
        assert (info.user_agent, info.ip) == ("Firefox/130", "192.0.2.7")
        assert created is not None
        assert info.created == created.timestamp()


async def test_the_user_stays_bound_between_a_rotation_and_its_commit(clock: FakeClock) -> None:
    config = SessionConfig(store="memory://", clock=clock)
    s = Session(config)
    auth.login(s, "ada")
    await s.save()
    again = Session(config, s.session_key)
    await again.load()
    again.cycle_key()
    assert auth.get_user_id(again) == "ada"


async def test_a_flush_after_a_rotation_starts_a_new_session(clock: FakeClock) -> None:
    config = SessionConfig(store="memory://", clock=clock, absolute_timeout=3600)
    s = Session(config)
    auth.login(s, "ada")
    await s.save()
    clock.advance(1000)
    again = Session(config, s.session_key)
    await again.load()
    again.cycle_key()
    again.flush()
    again["fresh"] = True
    await again.save()
    assert again.user_id is None
    assert again.created_at is not None
    assert again.created_at.timestamp() == clock.now
