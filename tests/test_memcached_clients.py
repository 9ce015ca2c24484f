"""The sync Memcached driver keeps each server's idle clients and reuses them.

pymemcache's plain client is not thread-safe; the driver gives each
concurrent command a client of its own (popped from the idle list, or new)
and takes it back after, instead of going through PooledClient's lock and
context managers on every command.
"""

from __future__ import annotations

import threading
import uuid

from sessionary import Session, SessionConfig
from sessionary.stores.memcached import MemcachedStore

from .conftest import SECRET
from .store_registry import require_server


def _store() -> MemcachedStore:
    require_server("127.0.0.1", 11211, "Memcached")
    return MemcachedStore(f"memcached://127.0.0.1:11211?prefix=mc{uuid.uuid4().hex[:8]}:")


def _cycles(config: SessionConfig, count: int) -> None:
    session = Session(config)
    session["n"] = 0
    session.save_sync()
    key = session.session_key
    for n in range(1, count):
        session = Session(config, key)
        session.load_sync()
        assert session["n"] == n - 1
        session["n"] = n
        session.save_sync()
        key = session.session_key


def test_sequential_commands_reuse_one_client() -> None:
    store = _store()
    try:
        _cycles(SessionConfig(store=store, secret_key=SECRET), 20)
        (idle,) = store._sync.driver._idle.values()
        assert len(idle) == 1  # some 60 commands, one client
    finally:
        store.close()


def test_concurrent_commands_each_have_a_client() -> None:
    store = _store()
    config = SessionConfig(store=store, secret_key=SECRET)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            _cycles(config, 30)
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        (idle,) = store._sync.driver._idle.values()
        assert 1 <= len(idle) <= 8
        assert len({id(client) for client in idle}) == len(idle)
    finally:
        store.close()
    assert store._sync.driver._idle == {}
