"""The hot SQL statements on the driver's own connection: which drivers take
that path, and that it keeps the store's guarantees (duplicate keys, error
translation without parameters, a dead pooled connection replaced once)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sessionary.exceptions import SessionKeyExists, StoreError
from sessionary.stores._async.database import AsyncDatabaseBackend
from sessionary.stores.base import Change, SessionRecord
from sessionary.stores.database import DatabaseStore

from .store_registry import require_server

PG = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL = "mysql://root@127.0.0.1:3306/test"


@pytest.fixture(params=["aiosqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseStore]:
    """A fresh table on a database whose drivers (sync and async) have the native path."""
    table = f"sessionary_native_{uuid.uuid4().hex[:12]}"
    if request.param == "aiosqlite":  # sync: sqlite3; async: aiosqlite (not a thread)
        url = f"sqlite+aiosqlite:///{tmp_path / 'native.db'}"
    else:
        require_server("127.0.0.1", 5432, "PostgreSQL")
        # A name of its own, so the test ends its own connections and no one else's.
        url = f"{PG}?application_name={table}"
    store = DatabaseStore(url, table=table)
    await store.migrate()
    yield store
    with store._sync.writer().begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    await store.aclose()
    store.close()


def _record(key_hash: str) -> SessionRecord:
    now = time.time()
    return SessionRecord(key_hash, {"theme": '"dark"'}, now, now, now + 600, "u1", 1, {"p": 1})


async def test_sqlite_and_psycopg_take_the_native_path_both_ways(store: DatabaseStore) -> None:
    assert isinstance(store._async, AsyncDatabaseBackend)
    assert store._sync._engines.get().native is not None
    assert store._async._engines.get().native is not None
    record = _record("a" * 64)
    await store._async.save(record, must_create=True)
    assert store._sync.load(record.key_hash) == record
    change = Change(set={"theme": '"light"'}, delete=frozenset(), last_seen=1.0, expires=9e9)
    updated = await store._async.apply(record.key_hash, change, record)
    assert updated is not None
    assert updated.version == 2
    assert store._sync.load(record.key_hash) == updated
    assert await store._async.load(record.key_hash) == updated
    # A stale base: the versioned update matches no row and the locked retry merges.
    again = store._sync.apply(record.key_hash, change, record)
    assert again is not None
    assert again.version == 3
    assert again.user_id == "u1"  # the update that leaves user_id out of SET kept it
    login = Change(
        set={}, delete=frozenset(), last_seen=2.0, expires=9e9, set_user=True, user_id="u2"
    )
    moved = await store._async.apply(record.key_hash, login, again)
    assert moved is not None
    assert store._sync.load(record.key_hash) == moved
    assert moved.user_id == "u2"
    assert [info.session_id for info in store._sync.sessions_for("u2")] == [record.key_hash]
    assert store._sync.sessions_for("u1") == []


async def test_a_taken_key_is_refused_on_the_native_insert(store: DatabaseStore) -> None:
    record = _record("b" * 64)
    store._sync.save(record, must_create=True)
    with pytest.raises(SessionKeyExists):
        store._sync.save(record, must_create=True)
    with pytest.raises(SessionKeyExists):
        await store._async.save(record, must_create=True)


async def test_a_driver_error_is_translated_and_names_no_parameter(
    store: DatabaseStore,
) -> None:
    key_hash = "c" * 64
    with store._sync.writer().begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {store.table.name}"))
    with pytest.raises(StoreError, match="sessionary migrate") as sync_info:
        store._sync.load(key_hash)
    with pytest.raises(StoreError, match="sessionary migrate") as async_info:
        await store._async.load(key_hash)
    for info in (sync_info, async_info):
        chain = f"{info.value} {info.value.__cause__!r} {info.value.__context__!r}"
        assert key_hash not in chain
    await store.migrate()  # the fixture drops the table again


async def test_a_dead_pooled_connection_is_replaced_once(store: DatabaseStore) -> None:
    if store.table.name not in str(store._sync.url):
        pytest.skip("only PostgreSQL can end a pooled connection from outside")
    record = _record("d" * 64)
    store._sync.save(record, must_create=True)
    assert await store._async.load(record.key_hash) == record  # both pools hold a connection
    killer = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with killer.connect() as conn:
        ended = conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"
            ),
            {"a": store.table.name},
        ).all()
    killer.dispose()
    assert ended
    assert store._sync.load(record.key_hash) == record
    assert await store._async.load(record.key_hash) == record


def test_pymysql_keeps_the_sqlalchemy_path() -> None:
    require_server("127.0.0.1", 3306, "MariaDB")
    store = DatabaseStore(MYSQL, table=f"sessionary_native_{uuid.uuid4().hex[:12]}")
    assert store._sync._engines.get().native is None
    store.close()
