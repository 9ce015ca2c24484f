"""``clear_expired()`` over many dead records: time, and peak Python memory (tracemalloc).

The dead records are written straight into the store's own layout (COPY for
PostgreSQL, ``executemany`` for SQLite), since writing a million sessions
through the library would measure the writes, not the clean-up. The runner
calls each store at two counts: peak memory must not grow with the count.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .common import PG_DSN, REDIS_URL, Unavailable, require, require_server
from .ours import _drop_pg_table, _store_class

SCALE_STORES = ("sqlite", "postgresql", "redis")
_PAYLOAD = '{"d":{"user_id":"1"},"m":{}}'


def _dead_rows(count: int, now: float) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        # created, last_seen, expires: all in the past.
        yield (f"{i:064x}", _PAYLOAD, now - 7200, now - 7200, now - 3600 - i % 600, None, 1)


def _sqlite(ns: str, tmp: Path, count: int) -> tuple[Any, Callable[[], None]]:
    import sqlite3

    store = _store_class("DatabaseStore")(f"sqlite:///{tmp / 'scale.db'}", table=ns)
    store.migrate_sync()
    with sqlite3.connect(tmp / "scale.db") as conn:
        conn.executemany(
            f"INSERT INTO {ns} VALUES (?, ?, ?, ?, ?, ?, ?)", _dead_rows(count, time.time())
        )
    return store, lambda: None


def _postgresql(ns: str, tmp: Path, count: int) -> tuple[Any, Callable[[], None]]:
    require("psycopg")
    require_server("postgresql")
    import psycopg

    store = _store_class("DatabaseStore")(PG_DSN, table=ns)
    store.migrate_sync()
    columns = "key_hash, payload, created, last_seen, expires, user_id, version"
    with psycopg.connect(PG_DSN, autocommit=True) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY {ns} ({columns}) FROM STDIN") as copy:
            for row in _dead_rows(count, time.time()):
                copy.write_row(row)
        cur.execute(f"ANALYZE {ns}")
    return store, lambda: _drop_pg_table(ns)


def _redis(ns: str, tmp: Path, count: int) -> tuple[Any, Callable[[], None]]:
    """Records expire by their TTL in Redis: what is dead is the per-user index's
    entries for them, which ``clear_expired`` prunes (1,000 users here)."""
    require("redis")
    require_server("redis")
    import redis

    from .ours import STORES

    store, cleanup = STORES["redis"](ns, tmp)
    from sessionary.stores._redis import user_key

    client = redis.Redis.from_url(REDIS_URL)
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        pipe.sadd(user_key(f"{ns}:", str(i % 1000)), f"{i:064x}")
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    client.close()
    return store, cleanup


_BUILDERS = {"sqlite": _sqlite, "postgresql": _postgresql, "redis": _redis}


def run_scale(store_name: str, count: int) -> dict[str, Any]:
    """Fill ``count`` dead records, then time ``clear_expired_sync`` under tracemalloc."""
    ns = "bench_" + secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="sessionary-bench-"))
    result: dict[str, Any] = {"name": f"scale/{store_name}", "store": store_name, "records": count}
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    store = None
    try:
        started = time.perf_counter()
        store, cleanup = _BUILDERS[store_name](ns, tmp, count)
        result["fill_s"] = time.perf_counter() - started
        tracemalloc.start()
        started = time.perf_counter()
        removed = store.clear_expired_sync(batch_size=1000)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if removed != count:
            raise AssertionError(f"clear_expired removed {removed} of {count} dead records")
        result.update(status="ok", removed=removed, seconds=elapsed, peak_kib=peak / 1024)
        result["records_per_s"] = removed / elapsed if elapsed else None
    except Unavailable as exc:
        result.update(status="unavailable", reason=str(exc))
    except Exception as exc:
        result.update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        if store is not None:
            store.close()
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return result
