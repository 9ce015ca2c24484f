"""sessionary's cycle on every store, through the public ``Session`` object.

``Session(config, key)`` + ``load`` + read + write + ``save`` is the whole
library path a request takes minus the cookie parsing: key check, hashing,
store round trips, decoding, the change set and the atomic apply. The cookie
store has no key to load by: as its middleware does, the case opens the
record the cookie carries (``store.load(cookie)``, then
``Session(config, sid, record=record)``) and takes the re-sealed cookie
after ``save``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import PG_DSN, REDIS_URL, SECRET, Case, Unavailable, flip, require_server, seed

Builder = Callable[[str, Path], tuple[Any, Callable[[], None]]]
"""(namespace, tmp dir) -> (store, cleanup)."""


def _store_class(name: str) -> Any:
    from sessionary import stores
    from sessionary.exceptions import ConfigurationError

    try:
        return getattr(stores, name)
    except (ConfigurationError, AttributeError):
        raise Unavailable(f"store not available yet ({name})") from None


def _drop_pg_table(table: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _delete_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    client.close()


def _memory(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    return _store_class("MemoryStore")(), lambda: None


def _sqlite(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    store = _store_class("DatabaseStore")(f"sqlite:///{tmp / 'sessionary.db'}", table=ns)
    return store, lambda: None


def _postgresql(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    require_server("postgresql")
    store = _store_class("DatabaseStore")(PG_DSN, table=ns)
    return store, lambda: _drop_pg_table(ns)


def _redis(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    require_server("redis")
    store = _store_class("RedisStore")(f"{REDIS_URL}?prefix={ns}:")
    return store, lambda: _delete_redis_prefix(f"{ns}:")


def _memcached(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    require_server("memcached")
    store = _store_class("MemcachedStore")(f"memcached://127.0.0.1:11211?prefix={ns}:")
    return store, lambda: None


def _cached(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    require_server("postgresql")
    require_server("redis")
    cls = _store_class("CachedDatabaseStore")
    database = _store_class("DatabaseStore")(PG_DSN, table=ns)
    cache = _store_class("RedisStore")(f"{REDIS_URL}?prefix={ns}:")

    def cleanup() -> None:
        _drop_pg_table(ns)
        _delete_redis_prefix(f"{ns}:")

    return cls(database=database, cache=cache), cleanup


def _file(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    return _store_class("FileStore")(tmp / "sessions"), lambda: None


def _cookie(ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    return _store_class("CookieStore")(), lambda: None


STORES: dict[str, Builder] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "redis": _redis,
    "memcached": _memcached,
    "cached_db": _cached,
    "file": _file,
    "cookie": _cookie,
}


def build_config(store_name: str, ns: str, tmp: Path) -> tuple[Any, Callable[[], None]]:
    """A SessionConfig over a fresh store in namespace ``ns``, and its cleanup."""
    from sessionary import SessionConfig

    store, cleanup = STORES[store_name](ns, tmp)
    return SessionConfig(store=store, secret_key=SECRET), cleanup


def _decoded(record: Any) -> dict[str, Any]:
    from sessionary._serialization import decode

    return {name: decode(raw) for name, raw in record.data.items()}


class Ours(Case):
    """Sync: ``Session(config, key)``, ``load_sync``, read, write, ``save_sync``."""

    store_name = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.config, self.cleanup = build_config(self.store_name, ns, tmp)
        self.store = self.config.store
        self.keys: list[str] = []

    def setup(self, count: int) -> None:
        from sessionary import Session

        self.store.migrate_sync()
        for i in range(count):
            session = Session(self.config)
            session.update(seed(i))
            session.save_sync()
            self.keys.append(self._token(session))

    def _token(self, session: Any) -> str:
        # What the cookie carries: the key, or for the cookie store the sealed record.
        return session.carried if self.store.client_side else session.session_key  # type: ignore[no-any-return]

    def _opened(self, carried: str, record: Any) -> Any:
        """The session the middleware opens over a cookie store's record."""
        from sessionary import Session

        key = self.store.key_from(carried, record) if record else None
        return Session(self.config, key, record=record)

    def cycle(self, i: int) -> Any:
        from sessionary import Session

        if self.store.client_side:
            session = self._opened(self.keys[i], self.store.load_sync(self.keys[i]))
        else:
            session = Session(self.config, self.keys[i])
            session.load_sync()
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        session.save_sync()
        self.keys[i] = self._token(session)
        return user_id

    def peek(self, i: int) -> Any:
        return _decoded(self.store.load_sync(self.keys[i]))

    def teardown(self) -> None:
        self.store.close()
        self.cleanup()


class OursAsync(Ours):
    """Async: ``await session.load()``, read, write, ``await session.save()``."""

    mode = "async"

    async def setup(self, count: int) -> None:  # type: ignore[override]
        from sessionary import Session

        await self.store.migrate()
        for i in range(count):
            session = Session(self.config)
            session.update(seed(i))
            await session.save()
            self.keys.append(self._token(session))

    async def cycle(self, i: int) -> Any:
        from sessionary import Session

        if self.store.client_side:
            session = self._opened(self.keys[i], await self.store.load(self.keys[i]))
        else:
            session = Session(self.config, self.keys[i])
            await session.load()
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        await session.save()
        self.keys[i] = self._token(session)
        return user_id

    async def peek(self, i: int) -> Any:
        return _decoded(await self.store.load(self.keys[i]))

    async def teardown(self) -> None:  # type: ignore[override]
        await self.store.aclose()
        await asyncio.to_thread(super().teardown)


def variants(store_name: str) -> dict[str, type[Case]]:
    """The sync, async and async-with-32-tasks cases of one store."""
    sync = type(f"Ours_{store_name}", (Ours,), {"store_name": store_name})
    async_ = type(f"OursAsync_{store_name}", (OursAsync,), {"store_name": store_name})
    concurrent = type(
        f"OursAsync32_{store_name}", (OursAsync,), {"store_name": store_name, "concurrency": 32}
    )
    return {"sync": sync, "async": async_, "async x32": concurrent}
