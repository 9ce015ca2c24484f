"""Redis and Memcached specifics: raw keys never stored, keys spread over a
Memcached pool with sync and async agreeing on where each lives."""

from __future__ import annotations

import uuid

from sessionary import Session, SessionConfig
from sessionary.stores import from_url
from sessionary.stores.memcached import MemcachedStore
from sessionary.stores.redis import RedisStore

from .servers import PORTS, killable_redis, memcached_pair
from .store_registry import require_server


async def test_redis_holds_no_raw_key() -> None:
    require_server("127.0.0.1", 6379, "Redis")
    prefix = f"sessionary-test-{uuid.uuid4().hex[:12]}:"
    store = from_url(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    assert isinstance(store, RedisStore)
    config = SessionConfig(store=store)
    s = Session(config)
    s["who"] = "alice"
    await s.save()
    key = s.session_key
    assert key is not None
    client = store._sync.client()
    names = list(client.scan_iter(match=f"{prefix}*"))
    # The store's client decodes replies (str, not bytes).
    dump = "".join(names + ["".join(v) for n in names for v in client.hgetall(n).items()])
    assert "alice" in dump  # the scan sees the record
    assert key not in dump
    for name in names:
        client.delete(name)
    await store.aclose()
    store.close()


async def test_memcached_pool_spreads_keys_and_drivers_agree() -> None:
    url = memcached_pair()
    store = MemcachedStore(f"{url}?prefix=sessionary-test-{uuid.uuid4().hex[:12]}:")
    config = SessionConfig(store=store)
    keys = []
    for i in range(40):
        s = Session(config)
        s["n"] = i
        if i % 2:
            s.save_sync()
        else:
            await s.save()
        assert s.session_key is not None
        keys.append(s.session_key)
    for i, key in enumerate(keys):  # each driver finds what the other wrote
        assert (await store.load(key)) is not None
        loaded = store.load_sync(key)
        assert loaded is not None
        assert loaded.data == {"n": str(i)}
    # Ask each server directly which records it holds: both hold some.
    from pymemcache.client.base import Client

    from sessionary._keys import hash_key

    held = {}
    for port in PORTS["memcached"]:
        direct = Client(("127.0.0.1", port))
        held[port] = sum(direct.get(store._sync.record_key(hash_key(k))) is not None for k in keys)
        direct.close()
    assert sum(held.values()) == len(keys)
    assert all(count > 0 for count in held.values())
    await store.aclose()
    store.close()


def test_redis_apply_merges_large_and_stale_changes_and_never_resurrects() -> None:
    """The apply script: PEXPIRE is the existence check and the TTL, HINCRBY
    reads and bumps the version, "_s" and "_e" ride on the first HSET (whose
    chunk is four values shorter than the rest), and a stale base gets the
    whole merged hash back."""
    import time

    from sessionary.stores.base import Change, SessionRecord

    require_server("127.0.0.1", 6379, "Redis")
    prefix = f"sessionary-test-{uuid.uuid4().hex[:12]}:"
    store = RedisStore(f"redis://127.0.0.1:6379/0?prefix={prefix}")
    backend = store._sync
    now = time.time()
    base = SessionRecord("h" * 64, {"a": '"1"'}, now, now, now + 600, version=3)
    backend.save(base, must_create=True)
    # 1200 fields: 2400 values, across the first HSET's 994 and the next chunks.
    many = {f"k{i}": str(i) for i in range(1200)}
    change = Change(set=many, delete=frozenset(), last_seen=now + 1, expires=now + 900)
    first = backend.apply(base.key_hash, change, base)
    assert first is not None
    assert first.version == 4
    loaded = backend.load(base.key_hash)
    assert loaded is not None
    assert loaded.version == 4
    assert loaded.data == {"a": '"1"', **many}
    assert loaded.expires == now + 900
    # A stale base (version 3, the store holds 4): the reply is the merged record.
    stale = Change(set={"b": '"2"'}, delete=frozenset({"a"}), last_seen=now + 2, expires=now + 900)
    second = backend.apply(base.key_hash, stale, base)
    assert second is not None
    assert second.version == 5
    assert second.data == {"b": '"2"', **many}
    assert backend.load(base.key_hash) == second
    ttl = backend.client().pttl(f"{prefix}{base.key_hash}")
    assert 800_000 < ttl <= 900_000
    # A clear drops all 1201 data fields (HDEL in chunks of 1000), keeping the record's own.
    cleared = Change(
        set={"c": '"3"'}, delete=frozenset(), last_seen=now + 3, expires=now + 900, clear=True
    )
    third = backend.apply(base.key_hash, cleared, second)
    assert third is not None
    assert third.version == 6
    assert third.data == {"c": '"3"'}
    assert backend.load(base.key_hash) == third
    # Gone is gone: the script refuses to write a deleted record back.
    backend.delete(base.key_hash)
    assert backend.apply(base.key_hash, stale, third) is None
    assert backend.client().exists(f"{prefix}{base.key_hash}") == 0
    store.close()


async def test_redis_scripts_survive_a_script_flush_and_a_foreign_field_is_corrupt() -> None:
    """The scripts run by digest: after SCRIPT FLUSH (or a restart) the first
    save and apply load them again, in both colours. Replies are decoded by
    the client, so a field that is not UTF-8 reads as CorruptRecord, and the
    connection goes on serving."""
    import time

    import pytest

    from sessionary.exceptions import CorruptRecord
    from sessionary.stores.base import Change, SessionRecord

    server = killable_redis()  # a server of our own: SCRIPT FLUSH touches no one else
    prefix = f"sessionary-test-{uuid.uuid4().hex[:12]}:"
    store = RedisStore(f"redis://127.0.0.1:{server.port}/0?prefix={prefix}")
    now = time.time()
    for backend, name in ((store._sync, "s" * 64), (store._async, "a" * 64)):
        record = SessionRecord(name, {"odd\ud800name": '"x"'}, now, now, now + 600, version=1)
        change = Change(set={"b": '"2"'}, delete=frozenset(), last_seen=now, expires=now + 600)
        if backend is store._sync:
            backend.save(record, must_create=True)
            backend.client().script_flush()
            applied = backend.apply(name, change, record)
            loaded = backend.load(name)
        else:
            await backend.client().script_flush()
            await backend.save(record, must_create=True)
            await backend.client().script_flush()
            applied = await backend.apply(name, change, record)
            loaded = await backend.load(name)
        assert applied is not None
        assert applied.version == 2
        assert loaded == applied
        assert loaded.data == {"odd\ud800name": '"x"', "b": '"2"'}
    raw = store._sync.client()
    raw.hset(f"{prefix}{'s' * 64}", "d:bad", b"\xff\xfe")
    with pytest.raises(CorruptRecord):
        store._sync.load("s" * 64)
    with pytest.raises(CorruptRecord):
        await store._async.load("s" * 64)
    assert store._sync.load("a" * 64) is not None
    assert await store._async.load("a" * 64) is not None
    await store.aclose()
    store.close()
    server.kill()
