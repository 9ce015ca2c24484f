"""Login helpers: key cycled on login, user bound, password change logs out."""

from __future__ import annotations

from sessionary import Session, SessionConfig, auth
from sessionary.stores.memory import MemoryStore

from .conftest import FakeClock


def config(clock: FakeClock) -> SessionConfig:
    return SessionConfig(store=MemoryStore(clock=clock))


async def test_login_cycles_key_and_binds_user(clock: FakeClock) -> None:
    cfg = config(clock)
    s = Session(cfg)
    s["cart"] = [1]
    await s.save()
    before = s.session_key
    auth.login(s, 42, auth_hash="pw-v1")
    await s.save()
    assert s.session_key != before
    assert before is not None
    # The old key opens the new session only within the grace window.
    stale = Session(cfg, before)
    await stale.load()
    assert stale.session_key == s.session_key
    clock.advance(cfg.rotation_grace)
    stale = Session(cfg, before)
    await stale.load()
    assert stale.session_key is None
    again = Session(cfg, s.session_key)
    await again.load()
    assert auth.get_user_id(again, auth_hash="pw-v1") == "42"
    assert again["cart"] == [1]
    listed = await cfg.store.sessions_for("42")
    assert [i.session_id for i in listed] == [again.key_hash]


async def test_password_change_logs_out(clock: FakeClock) -> None:
    cfg = config(clock)
    s = Session(cfg)
    auth.login(s, "alice", auth_hash="pw-v1")
    await s.save()
    again = Session(cfg, s.session_key)
    await again.load()
    assert auth.get_user_id(again, auth_hash="pw-v2") is None
    assert again.is_empty()
    await again.save()
    assert s.session_key is not None
    assert not await cfg.store.exists(s.session_key)


async def test_logout_flushes_and_revoke_others(clock: FakeClock) -> None:
    cfg = config(clock)
    devices = []
    for _ in range(3):
        s = Session(cfg)
        auth.login(s, "bob")
        await s.save()
        devices.append(s)
    assert len(await auth.sessions_for(devices[0])) == 3
    assert await auth.revoke_other_sessions(devices[0]) == 2
    assert len(await auth.sessions_for(devices[0])) == 1
    auth.logout(devices[0])
    await devices[0].save()
    assert await cfg.store.sessions_for("bob") == []
    assert auth.get_user_id(devices[0]) is None
