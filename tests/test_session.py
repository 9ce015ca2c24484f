"""The Session mapping and its rules (SPEC section 1), without HTTP."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from sessionary import Session, SessionConfig, UnserializableValue
from sessionary._keys import new_key
from sessionary.stores.memory import MemoryStore

from .conftest import SECRET, FakeClock


@pytest.fixture
def config(clock: FakeClock) -> SessionConfig:
    return SessionConfig(store=MemoryStore(clock=clock), secret_key=SECRET)


def test_new_session_is_empty_and_untouched(config: SessionConfig) -> None:
    s = Session(config)
    assert s.is_empty()
    assert s.session_key is None
    assert not s.accessed
    assert not s.modified


@pytest.mark.parametrize(
    "read",
    [
        lambda s: s.get("a"),
        lambda s: "a" in s,
        lambda s: len(s),
        lambda s: list(s),
        lambda s: s.keys(),
        lambda s: s.values(),
        lambda s: s.items(),
    ],
)
def test_reads_mark_accessed_not_modified(config: SessionConfig, read) -> None:  # type: ignore[no-untyped-def]
    s = Session(config)
    read(s)
    assert s.accessed
    assert not s.modified


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__("a", 1),
        lambda s: s.setdefault("a", 1),
        lambda s: s.update(a=1),
    ],
)
def test_writes_mark_modified(config: SessionConfig, write) -> None:  # type: ignore[no-untyped-def]
    s = Session(config)
    write(s)
    assert s.modified
    assert s["a"] == 1


def test_pop_and_del_of_missing_key(config: SessionConfig) -> None:
    s = Session(config)
    assert s.pop("nope", "d") == "d"
    assert not s.modified
    with pytest.raises(KeyError):
        s.pop("nope")
    with pytest.raises(KeyError):
        del s["nope"]
    assert not s.modified


def test_unserialisable_value_raises_type_error_naming_key(config: SessionConfig) -> None:
    s = Session(config)
    with pytest.raises(TypeError, match="'thing'") as info:
        s["thing"] = object()
    assert isinstance(info.value, UnserializableValue)
    assert "thing" not in s
    with pytest.raises(TypeError):
        s["nan"] = float("nan")
    with pytest.raises(TypeError):
        s["setval"] = {1, 2}


async def test_extra_types_round_trip(config: SessionConfig) -> None:
    values = {
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "price": Decimal("12.30"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "text": "héllo ✓ 日本",
        "nested": {"list": [1, 2.5, None, True]},
    }
    s = Session(config)
    s.update(values)
    await s.save()
    again = Session(config, s.session_key)
    await again.load()
    assert dict(again.items()) == values


def test_keys_are_32_chars_of_lowercase_and_digits() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(re.fullmatch(r"[a-z0-9]{32}", k) for k in keys)


async def test_io_is_deferred_until_save(config: SessionConfig) -> None:
    s = Session(config)
    s["a"] = 1
    s.cycle_key()
    key = s.session_key
    assert key is not None
    assert not await config.store.exists(key)
    await s.save()
    assert await config.store.exists(key)


async def test_cycle_key_keeps_data_under_a_new_key(
    config: SessionConfig, clock: FakeClock
) -> None:
    s = Session(config)
    s["a"] = 1
    await s.save()
    old = s.session_key
    assert old is not None
    s.cycle_key()
    await s.save()
    assert s.session_key != old
    again = Session(config, s.session_key)
    await again.load()
    assert again["a"] == 1
    # The old key is no session of its own: within the grace window it opens
    # the new one, after it nothing.
    stale = Session(config, old)
    await stale.load()
    assert stale.session_key == s.session_key
    clock.advance(config.rotation_grace)
    late = Session(config, old)
    await late.load()
    assert late.session_key is None


async def test_without_a_grace_window_cycle_key_deletes_the_old_record(
    config: SessionConfig,
) -> None:
    strict = config.replace(rotation_grace=0)
    s = Session(strict)
    s["a"] = 1
    await s.save()
    old = s.session_key
    assert old is not None
    s.cycle_key()
    await s.save()
    assert not await strict.store.exists(old)


async def test_flush_drops_key_and_record(config: SessionConfig) -> None:
    s = Session(config)
    s["a"] = 1
    await s.save()
    key = s.session_key
    assert key is not None
    s.flush()
    assert s.session_key is None
    assert s.is_empty()
    await s.save()
    assert not await config.store.exists(key)


def test_expiry_policies(config: SessionConfig, clock: FakeClock) -> None:
    s = Session(config)
    assert s.get_expiry_age() == 1_209_600
    assert not s.get_expire_at_browser_close()
    s.set_expiry(300)
    assert s.get_expiry_age() == 300
    s.set_expiry(dt.timedelta(minutes=2))
    assert s.get_expiry_age() == 120
    s.set_expiry(0)
    assert s.get_expire_at_browser_close()
    assert s.get_expiry_age() == 1_209_600
    deadline = dt.datetime.fromtimestamp(clock.now + 50, dt.UTC)
    s.set_expiry(deadline)
    assert s.get_expiry_age() == 50
    assert s.get_expiry_date() == deadline
    assert s.get_expiry_date().tzinfo is not None
    assert not s.get_expire_at_browser_close()
    s.set_expiry(None)
    assert s.get_expiry_age() == 1_209_600


def test_global_browser_close_policy(clock: FakeClock) -> None:
    config = SessionConfig(store=MemoryStore(clock=clock), expire_at_browser_close=True)
    s = Session(config)
    assert s.get_expire_at_browser_close()
    s.set_expiry(60)
    assert not s.get_expire_at_browser_close()


async def test_expiry_is_reapplied_on_every_save(config: SessionConfig, clock: FakeClock) -> None:
    s = Session(config)
    s.set_expiry(100)
    s["a"] = 1
    await s.save()
    clock.advance(90)
    s["b"] = 2
    await s.save()
    clock.advance(90)  # 180s after creation, 90s after the last save
    again = Session(config, s.session_key)
    await again.load()
    assert again["b"] == 2


async def test_modified_flag_saves_in_place_mutation(config: SessionConfig) -> None:
    s = Session(config)
    s["d"] = {"n": 1}
    await s.save()
    again = Session(config, s.session_key)
    await again.load()
    again["d"]["n"] = 2
    again.modified = True
    await again.save()
    third = Session(config, s.session_key)
    await third.load()
    assert third["d"] == {"n": 2}


def test_repr_never_shows_the_key(config: SessionConfig) -> None:
    s = Session(config)
    s.cycle_key()
    assert s.session_key is not None
    assert s.session_key not in repr(s)


def test_sync_twin_round_trips(tmp_path: Path, clock: FakeClock) -> None:
    store_url = f"sqlite:///{tmp_path / 's.db'}"
    config = SessionConfig(store=store_url)
    config.store.clock = clock
    config.store.migrate_sync()
    s = Session(config)
    s["a"] = [1, 2]
    s.save_sync()
    again = Session(config, s.session_key)
    again.load_sync()
    assert again["a"] == [1, 2]
    config.store.close()


async def test_oversized_session_raises_a_catchable_error(clock: FakeClock) -> None:
    from sessionary import SessionTooLarge

    config = SessionConfig(store=MemoryStore(clock=clock), max_session_bytes=1000)
    s = Session(config)
    s["ok"] = "x" * 100
    await s.save()
    with pytest.raises(SessionTooLarge, match="above the limit of 1000 bytes") as info:
        s["big"] = "x" * 2000  # refused at assignment, where the app can catch it
    assert info.value.size > 2000
    assert "big" not in s
    s["nested"] = []
    s["nested"].append("x" * 2000)  # grown in place: caught at save
    with pytest.raises(SessionTooLarge):
        await s.save()
    again = Session(config, s.session_key)
    await again.load()
    assert dict(again.items()) == {"ok": "x" * 100}  # the last good save is intact


class SmallStore(MemoryStore):
    """A store that can hold less than the config allows."""

    max_data_bytes = 300


def test_a_store_limit_below_the_config_caps_the_assignment_check() -> None:
    from sessionary import SessionTooLarge

    s = Session(SessionConfig(store=SmallStore(), max_session_bytes=1000))
    s["ok"] = "x" * 200
    with pytest.raises(SessionTooLarge, match="above the limit of 300 bytes"):
        s["more"] = "x" * 200
    assert "more" not in s


def test_the_config_limit_wins_when_it_is_the_smaller() -> None:
    from sessionary import SessionTooLarge

    s = Session(SessionConfig(store=SmallStore(), max_session_bytes=100))
    with pytest.raises(SessionTooLarge, match="above the limit of 100 bytes"):
        s["big"] = "x" * 150
    assert Session(SessionConfig(store=MemoryStore(), max_session_bytes=100)).size_limit == 100
