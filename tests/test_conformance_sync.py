"""The conformance suite through every store's sync methods.

GENERATED from test_conformance.py by scripts/unasync.py: do not edit.
"""

from __future__ import annotations

from typing import Any

import pytest

from sessionary import SessionKeyExists
from sessionary._keys import hash_key, new_key
from sessionary.stores.base import ALL, ALL_BUT_CURRENT, Change, SessionRecord, Store

from .conftest import FakeClock


def record(clock: FakeClock, ttl: float = 600, **data: str) -> SessionRecord:
    now = clock()
    return SessionRecord(
        key_hash="",
        data={k: f'"{v}"' for k, v in data.items()},
        created=now,
        last_seen=now,
        expires=now + ttl,
        version=1,
    )


def change(clock: FakeClock, ttl: float = 600, **kwargs: Any) -> Change:
    now = clock()
    return Change(
        set=kwargs.pop("set", {}),
        delete=frozenset(kwargs.pop("delete", ())),
        last_seen=now,
        expires=now + ttl,
        **kwargs,
    )


def test_save_then_load(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, a="1"))
    loaded = store.load_sync(key)
    assert loaded is not None
    assert loaded.data == {"a": '"1"'}
    assert loaded.key_hash == hash_key(key)


def test_load_missing_is_none(store: Store) -> None:
    assert store.load_sync(new_key()) is None


def test_must_create_refuses_an_existing_key(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, a="1"), must_create=True)
    with pytest.raises(SessionKeyExists):
        store.save_sync(key, record(clock, a="2"), must_create=True)
    loaded = store.load_sync(key)
    assert loaded is not None
    assert loaded.data == {"a": '"1"'}


def test_save_without_must_create_overwrites(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, a="1"))
    store.save_sync(key, record(clock, a="2"))
    loaded = store.load_sync(key)
    assert loaded is not None
    assert loaded.data == {"a": '"2"'}


def test_delete_and_exists(store: Store, clock: FakeClock) -> None:
    key = new_key()
    assert not store.exists_sync(key)
    store.save_sync(key, record(clock, a="1"))
    assert store.exists_sync(key)
    store.delete_sync(key)
    assert not store.exists_sync(key)
    assert store.load_sync(key) is None
    store.delete_sync(key)  # deleting twice is fine


def test_expired_record_is_not_loaded(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, ttl=30, a="1"))
    clock.advance(31)
    assert store.load_sync(key) is None
    assert not store.exists_sync(key)


def test_apply_merges_per_key(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, a="1", b="2"))
    base = store.load_sync(key)
    store.apply_sync(key, change(clock, set={"c": '"3"'}), base)
    # A second request that loaded the same base writes another key: both survive.
    merged = store.apply_sync(key, change(clock, set={"d": '"4"'}, delete={"a"}), base)
    assert merged is not None
    assert merged.data == {"b": '"2"', "c": '"3"', "d": '"4"'}
    loaded = store.load_sync(key)
    assert loaded is not None
    assert loaded.data == merged.data


def test_apply_to_a_deleted_record_writes_nothing(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, a="1"))
    base = store.load_sync(key)
    store.delete_sync(key)
    assert store.apply_sync(key, change(clock, set={"b": '"2"'}), base) is None
    assert store.load_sync(key) is None


def test_clear_expired_removes_only_dead_records(store: Store, clock: FakeClock) -> None:
    dead = [new_key() for _ in range(7)]
    live = [new_key() for _ in range(3)]
    for key in dead:
        store.save_sync(key, record(clock, ttl=10, a="x"))
    for key in live:
        store.save_sync(key, record(clock, ttl=1000, a="x"))
    clock.advance(11)
    seen: list[int] = []
    removed = store.clear_expired_sync(batch_size=3, progress=seen.append)
    assert removed in (0, 7)  # stores with native TTLs have nothing left to remove
    if removed:
        assert seen[-1] == 7
    for key in live:
        assert store.exists_sync(key)
    for key in dead:
        assert store.load_sync(key) is None


def test_large_and_unicode_values(store: Store, clock: FakeClock) -> None:
    key = new_key()
    big = "x" * 100_000
    rec = record(clock, big=big, text="héllo ✓ 日本 🎉")
    store.save_sync(key, rec)
    loaded = store.load_sync(key)
    assert loaded is not None
    assert loaded.data == rec.data


def test_per_user_index_lists_and_revokes(store: Store, clock: FakeClock) -> None:
    keys = [new_key() for _ in range(3)]
    for key in keys:
        rec = record(clock, a="1")
        rec.user_id = "alice"
        rec.meta = {"ua": "Firefox", "ip": "127.0.0.1"}
        store.save_sync(key, rec)
        clock.advance(1)
    other = new_key()
    rec = record(clock)
    rec.user_id = "bob"
    store.save_sync(other, rec)
    listed = store.sessions_for_sync("alice")
    assert [s.session_id for s in listed] == [hash_key(k) for k in keys]
    assert listed[0].user_agent == "Firefox"
    assert all(k not in repr(listed) for k in keys)
    assert store.revoke_sync("alice", hash_key(keys[0])) == 1
    assert store.revoke_sync("alice", ALL_BUT_CURRENT, current=keys[2]) == 1
    assert [s.session_id for s in store.sessions_for_sync("alice")] == [hash_key(keys[2])]
    assert store.revoke_sync("alice", ALL) == 1
    assert store.sessions_for_sync("alice") == []
    assert store.exists_sync(other)


def test_sync_twin_round_trips(store: Store, clock: FakeClock) -> None:
    key = new_key()
    store.save_sync(key, record(clock, a="1"))
    loaded = store.load_sync(key)
    assert loaded is not None
    updated = store.apply_sync(key, change(clock, set={"b": '"2"'}), loaded)
    assert updated is not None
    assert updated.data == {"a": '"1"', "b": '"2"'}
    assert store.exists_sync(key)
    store.delete_sync(key)
    assert not store.exists_sync(key)
