"""Every store checks the session ids it is given (``forget``, ``revoke``):
an id is the 64-hex SHA-256 of a key, and anything else is a ``ValueError``
before it can name a file or a cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionary._keys import hash_key, new_key
from sessionary.stores.base import ALL, SessionRecord, Store, check_session_id
from sessionary.stores.file import FileStore

from .conftest import FakeClock

NOT_IDS = [
    "../x",
    "../../etc/passwd",
    "/tmp/x",
    "*",
    "user:alice",
    "sessionary:" + "a" * 64,
    "A" * 64,  # upper case: never what hash_key gives
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    "",
]


def record(clock: FakeClock, user_id: str | None = None) -> SessionRecord:
    now = clock()
    return SessionRecord("", {"a": '"1"'}, now, now, now + 600, user_id=user_id, version=1)


@pytest.mark.parametrize("bad", NOT_IDS)
def test_check_session_id_refuses_anything_but_64_lowercase_hex(bad: str) -> None:
    with pytest.raises(ValueError, match="not a session id"):
        check_session_id(bad)


def test_check_session_id_accepts_a_key_hash() -> None:
    digest = hash_key(new_key())
    assert check_session_id(digest) == digest


async def test_forget_refuses_an_id_that_is_not_a_session_id(store: Store) -> None:
    for bad in NOT_IDS:
        with pytest.raises(ValueError, match="not a session id"):
            await store.forget(bad)
        with pytest.raises(ValueError, match="not a session id"):
            store.forget_sync(bad)


async def test_revoke_refuses_a_target_that_is_not_a_session_id(
    store: Store, clock: FakeClock
) -> None:
    key = new_key()
    await store.save(key, record(clock, user_id="alice"))
    for bad in NOT_IDS:
        with pytest.raises(ValueError, match="not a session id"):
            await store.revoke("alice", bad)
        with pytest.raises(ValueError, match="not a session id"):
            store.revoke_sync("alice", bad)
    assert await store.load(key) is not None
    assert await store.revoke("alice", ALL) == 1


async def test_forget_still_deletes_by_session_id(store: Store, clock: FakeClock) -> None:
    key = new_key()
    await store.save(key, record(clock))
    await store.forget(hash_key(key))
    assert await store.load(key) is None
    other = new_key()
    await store.save(other, record(clock))
    store.forget_sync(hash_key(other))
    assert await store.load(other) is None


async def test_file_store_forget_cannot_delete_outside_its_directory(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "sessions")
    store.migrate_sync()
    victim = tmp_path / "x"
    victim.write_text("keep me")
    with pytest.raises(ValueError, match="not a session id"):
        store.forget_sync("../x")
    with pytest.raises(ValueError, match="not a session id"):
        await store.forget("../x")
    assert victim.read_text() == "keep me"
