"""What the client carries: the key for a server-side store, the sealed record
for the cookie store; secrets reach the cookie store without mutating it; the
clock belongs to the config."""

from __future__ import annotations

import datetime as dt

from sessionary import Session, SessionConfig
from sessionary.stores.cookie import CookieStore
from sessionary.stores.memory import MemoryStore

from .conftest import SECRET, FakeClock

OTHER_SECRET = "o" * 40


def test_a_server_side_store_carries_the_key() -> None:
    session = Session(SessionConfig(store=MemoryStore()))
    session["a"] = 1
    session.save_sync()
    assert session.carried == session.session_key


def test_the_cookie_store_carries_the_sealed_record() -> None:
    session = Session(SessionConfig(store="cookie://", secret_key=SECRET))
    session["a"] = 1
    session.save_sync()
    assert session.carried is not None
    assert session.carried != session.session_key
    assert session.session_key is not None
    assert session.session_key not in session.carried  # encrypted, key included


def test_one_cookie_store_backs_two_configs_without_being_changed() -> None:
    shared = CookieStore()
    first = SessionConfig(store=shared, secret_key=SECRET)
    second = SessionConfig(store=shared, secret_key=OTHER_SECRET)
    assert first.store is not shared
    assert second.store is not shared
    sealed: list[str] = []
    for config in (first, second):
        session = Session(config)
        session["who"] = "ada"
        session.save_sync()
        assert session.carried is not None
        sealed.append(session.carried)
    # Each config opens its own cookies and not the other's.
    assert first.store.load_sync(sealed[0]) is not None
    assert first.store.load_sync(sealed[1]) is None
    assert second.store.load_sync(sealed[1]) is not None
    assert shared.load_sync(sealed[0]) is None  # the shared object holds no secret


def test_a_cookie_store_built_with_its_secret_is_used_as_is() -> None:
    store = CookieStore(secret_key=SECRET)
    assert SessionConfig(store=store, secret_key=SECRET).store is store


def test_a_session_opened_from_the_cookie_knows_its_key() -> None:
    config = SessionConfig(store="cookie://", secret_key=SECRET)
    session = Session(config)
    session["a"] = 1
    session.save_sync()
    assert session.carried is not None
    record = config.store.load_sync(session.carried)
    assert record is not None
    assert config.store.key_from(session.carried, record) == session.session_key
    assert not config.store.needs_reissue(record)


def test_a_cookie_sealed_under_a_fallback_secret_is_reissued() -> None:
    old = SessionConfig(store="cookie://", secret_key=OTHER_SECRET)
    session = Session(old)
    session["a"] = 1
    session.save_sync()
    assert session.carried is not None
    rotated = SessionConfig(
        store="cookie://", secret_key=SECRET, secret_key_fallbacks=[OTHER_SECRET]
    )
    record = rotated.store.load_sync(session.carried)
    assert record is not None
    assert rotated.store.needs_reissue(record)


def test_the_config_clock_decides_the_sessions_times() -> None:
    clock = FakeClock(1_800_000_000.0)
    config = SessionConfig(store=MemoryStore(), clock=clock, cookie_age=100)
    session = Session(config)
    assert session.get_expiry_date() == dt.datetime.fromtimestamp(1_800_000_100.0, dt.UTC)
    clock.advance(50)
    assert session.get_expiry_date() == dt.datetime.fromtimestamp(1_800_000_150.0, dt.UTC)


def test_without_a_config_clock_the_stores_clock_is_read() -> None:
    clock = FakeClock(1_800_000_000.0)
    store = MemoryStore()
    config = SessionConfig(store=store, cookie_age=100)
    store.clock = clock  # set after the config, as tests do
    assert config.now() == 1_800_000_000.0


def test_the_cookie_store_checks_expiry_by_the_config_clock() -> None:
    clock = FakeClock(1_800_000_000.0)
    config = SessionConfig(store="cookie://", secret_key=SECRET, clock=clock, cookie_age=100)
    session = Session(config)
    session["a"] = 1
    session.save_sync()
    assert session.carried is not None
    assert config.store.load_sync(session.carried) is not None
    clock.advance(101)
    assert config.store.load_sync(session.carried) is None
