"""Raw floors: the least any library can do for one cycle on each store.

Each floor does the same work as a session library at its thinnest: one read
by key, JSON decode, flip ``theme``, JSON encode, one write that carries the
expiry. Nothing is hashed, nothing is versioned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, cast

from .common import (
    MEMCACHED,
    PG_DSN,
    REDIS_URL,
    SECRET,
    TTL,
    Case,
    dumps,
    flip,
    require,
    require_server,
    seed,
)


def _flip_json(raw: str | bytes) -> tuple[Any, str]:
    data = json.loads(raw)
    user_id = data["user_id"]
    data["theme"] = flip(data["theme"])
    return user_id, dumps(data)


class RawMemory(Case):
    """A dict of JSON strings: the cost of the codec alone."""

    def setup(self, count: int) -> None:
        self.data = {f"{self.ns}:{i}": dumps(seed(i)) for i in range(count)}
        self.keys = list(self.data)

    def cycle(self, i: int) -> Any:
        key = self.keys[i]
        user_id, self.data[key] = _flip_json(self.data[key])
        return user_id

    def peek(self, i: int) -> Any:
        return json.loads(self.data[self.keys[i]])


class RawRedis(Case):
    """redis-py: GET, then SET with EX."""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        require("redis")
        require_server("redis")
        import redis

        self.client = redis.Redis.from_url(REDIS_URL)

    def setup(self, count: int) -> None:
        self.keys = [f"{self.ns}:{i}" for i in range(count)]
        pipe = self.client.pipeline()
        for i, key in enumerate(self.keys):
            pipe.set(key, dumps(seed(i)), ex=TTL)
        pipe.execute()

    def cycle(self, i: int) -> Any:
        key = self.keys[i]
        user_id, raw = _flip_json(cast(bytes, self.client.get(key)))
        self.client.set(key, raw, ex=TTL)
        return user_id

    def peek(self, i: int) -> Any:
        return json.loads(cast(bytes, self.client.get(self.keys[i])))

    def teardown(self) -> None:
        if self.keys:
            self.client.delete(*self.keys)


class RawRedisAsync(RawRedis):
    """redis.asyncio: GET, then SET with EX."""

    mode = "async"

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        import redis.asyncio

        self.aclient = redis.asyncio.Redis.from_url(REDIS_URL)

    async def cycle(self, i: int) -> Any:
        key = self.keys[i]
        user_id, raw = _flip_json(cast(bytes, await self.aclient.get(key)))
        await self.aclient.set(key, raw, ex=TTL)
        return user_id

    async def teardown(self) -> None:  # type: ignore[override]
        super().teardown()
        await self.aclient.aclose()


class RawMemcached(Case):
    """pymemcache: get, then set with an expiry, waiting for the reply."""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        require("pymemcache")
        require_server("memcached")
        from pymemcache.client.base import Client

        self.client = Client(MEMCACHED, default_noreply=False)

    def setup(self, count: int) -> None:
        self.keys = [f"{self.ns}_{i}" for i in range(count)]
        self.client.set_many({k: dumps(seed(i)) for i, k in enumerate(self.keys)}, expire=TTL)

    def cycle(self, i: int) -> Any:
        key = self.keys[i]
        user_id, raw = _flip_json(self.client.get(key))
        self.client.set(key, raw, expire=TTL)
        return user_id

    def peek(self, i: int) -> Any:
        return json.loads(self.client.get(self.keys[i]))

    def teardown(self) -> None:
        self.client.delete_many(self.keys)


class RawMemcachedAsync(RawMemcached):
    """aiomcache: get, then set with an expiry."""

    mode = "async"

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        require("aiomcache")
        import aiomcache

        self.aclient = aiomcache.Client(*MEMCACHED)

    async def cycle(self, i: int) -> Any:
        key = self.keys[i].encode()
        user_id, raw = _flip_json(cast(bytes, await self.aclient.get(key)))
        await self.aclient.set(key, raw.encode(), exptime=TTL)
        return user_id

    async def teardown(self) -> None:  # type: ignore[override]
        super().teardown()
        await self.aclient.close()


_SQLITE_DDL = "CREATE TABLE {t} (k TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL NOT NULL)"


class RawSQLite(Case):
    """sqlite3 (WAL): SELECT by primary key, UPDATE by primary key, COMMIT."""

    def setup(self, count: int) -> None:
        self.path = self.tmp / "raw.db"
        self.conn = sqlite3.connect(self.path, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(_SQLITE_DDL.format(t=self.ns))
        self.keys = [f"key{i:06d}" for i in range(count)]
        expires = time.time() + TTL
        self.conn.executemany(
            f"INSERT INTO {self.ns} VALUES (?, ?, ?)",
            [(k, dumps(seed(i)), expires) for i, k in enumerate(self.keys)],
        )
        self.conn.commit()
        self.select = f"SELECT data FROM {self.ns} WHERE k = ? AND expires > ?"
        self.update = f"UPDATE {self.ns} SET data = ?, expires = ? WHERE k = ?"

    def cycle(self, i: int) -> Any:
        key = self.keys[i]
        now = time.time()
        (raw,) = self.conn.execute(self.select, (key, now)).fetchone()
        user_id, raw = _flip_json(raw)
        self.conn.execute(self.update, (raw, now + TTL, key))
        self.conn.commit()
        return user_id

    def peek(self, i: int) -> Any:
        row = self.conn.execute(f"SELECT data FROM {self.ns} WHERE k = ?", (self.keys[i],))
        return json.loads(row.fetchone()[0])

    def teardown(self) -> None:
        self.conn.close()


class RawSQLiteAsync(RawSQLite):
    """aiosqlite (WAL): SELECT, UPDATE, COMMIT, each through aiosqlite's thread."""

    mode = "async"

    async def setup(self, count: int) -> None:  # type: ignore[override]
        import aiosqlite

        super().setup(count)
        self.aconn = await aiosqlite.connect(self.path)

    async def cycle(self, i: int) -> Any:
        key = self.keys[i]
        now = time.time()
        async with self.aconn.execute(self.select, (key, now)) as cursor:
            (raw,) = cast("tuple[str]", await cursor.fetchone())
        user_id, raw = _flip_json(raw)
        await self.aconn.execute(self.update, (raw, now + TTL, key))
        await self.aconn.commit()
        return user_id

    async def teardown(self) -> None:  # type: ignore[override]
        await self.aconn.close()
        super().teardown()


class RawPostgres(Case):
    """psycopg 3 (autocommit, prepared after first use): SELECT, then UPDATE by primary key."""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        require("psycopg")
        require_server("postgresql")
        import psycopg

        self.conn = psycopg.connect(PG_DSN, autocommit=True, prepare_threshold=0)
        self.select = f"SELECT data FROM {ns} WHERE k = %s AND expires > %s"
        self.update = f"UPDATE {ns} SET data = %s, expires = %s WHERE k = %s"

    def setup(self, count: int) -> None:
        self.keys = [f"key{i:06d}" for i in range(count)]
        expires = time.time() + TTL
        with self.conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {self.ns} (k TEXT PRIMARY KEY, data TEXT NOT NULL, expires DOUBLE"
                " PRECISION NOT NULL)"
            )
            with cur.copy(f"COPY {self.ns} (k, data, expires) FROM STDIN") as copy:
                for i, key in enumerate(self.keys):
                    copy.write_row((key, dumps(seed(i)), expires))

    def cycle(self, i: int) -> Any:
        key = self.keys[i]
        now = time.time()
        (raw,) = self.conn.execute(self.select, (key, now)).fetchone()  # type: ignore[misc]
        user_id, raw = _flip_json(raw)
        self.conn.execute(self.update, (raw, now + TTL, key))
        return user_id

    def peek(self, i: int) -> Any:
        row = self.conn.execute(f"SELECT data FROM {self.ns} WHERE k = %s", (self.keys[i],))
        return json.loads(row.fetchone()[0])  # type: ignore[index]

    def teardown(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self.ns}")
        self.conn.close()


class RawPostgresAsync(RawPostgres):
    """psycopg 3 AsyncConnection: SELECT, then UPDATE by primary key."""

    mode = "async"

    async def setup(self, count: int) -> None:  # type: ignore[override]
        import psycopg

        super().setup(count)
        self.aconn = await psycopg.AsyncConnection.connect(
            PG_DSN, autocommit=True, prepare_threshold=0
        )

    async def cycle(self, i: int) -> Any:
        key = self.keys[i]
        now = time.time()
        cursor = await self.aconn.execute(self.select, (key, now))
        (raw,) = await cursor.fetchone()  # type: ignore[misc]
        user_id, raw = _flip_json(raw)
        await self.aconn.execute(self.update, (raw, now + TTL, key))
        return user_id

    async def teardown(self) -> None:  # type: ignore[override]
        await self.aconn.close()
        super().teardown()


class RawCachedPostgres(RawPostgres):
    """Redis in front of PostgreSQL: GET from Redis; UPDATE PostgreSQL, then SET Redis."""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.cache = RawRedis(ns, tmp)

    def setup(self, count: int) -> None:
        super().setup(count)
        self.cache.setup(count)

    def cycle(self, i: int) -> Any:
        key = self.keys[i]
        ckey = self.cache.keys[i]
        cached = self.cache.client.get(ckey)
        if cached is None:  # a miss reads the database (never, once warm)
            cached = self.conn.execute(self.select, (key, time.time())).fetchone()[0]  # type: ignore[index]
        user_id, raw = _flip_json(cached)
        self.conn.execute(self.update, (raw, time.time() + TTL, key))
        self.cache.client.set(ckey, raw, ex=TTL)
        return user_id

    def peek(self, i: int) -> Any:
        stored = super().peek(i)
        if self.cache.peek(i) != stored:
            raise AssertionError("cache and database disagree")
        return stored

    def teardown(self) -> None:
        self.cache.teardown()
        super().teardown()


class RawFile(Case):
    """One file a session: read, then write a temporary file and ``os.replace`` it."""

    def setup(self, count: int) -> None:
        self.dir = self.tmp / "files"
        self.dir.mkdir()
        self.paths = [str(self.dir / f"s{i:06d}") for i in range(count)]
        for i, path in enumerate(self.paths):
            Path(path).write_text(dumps(seed(i)))

    def cycle(self, i: int) -> Any:
        path = self.paths[i]
        with open(path, "rb") as f:
            user_id, raw = _flip_json(f.read())
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(raw.encode())
        os.replace(tmp, path)
        return user_id

    def peek(self, i: int) -> Any:
        return json.loads(Path(self.paths[i]).read_bytes())


class RawCookie(Case):
    """The cookie floor: base64 JSON plus an HMAC-SHA256 tag, checked and re-made each cycle."""

    def setup(self, count: int) -> None:
        self.key = hashlib.sha256(SECRET.encode()).digest()
        self.tokens = [self.sign(dumps(seed(i))) for i in range(count)]

    def sign(self, raw: str) -> str:
        body = base64.urlsafe_b64encode(raw.encode())
        tag = base64.urlsafe_b64encode(hmac.new(self.key, body, hashlib.sha256).digest())
        return (body + b"." + tag).decode()

    def unsign(self, token: str) -> bytes:
        body, _, tag = token.encode().rpartition(b".")
        expected = base64.urlsafe_b64encode(hmac.new(self.key, body, hashlib.sha256).digest())
        if not hmac.compare_digest(tag, expected):
            raise ValueError("bad signature")
        return base64.urlsafe_b64decode(body)

    def cycle(self, i: int) -> Any:
        user_id, raw = _flip_json(self.unsign(self.tokens[i]))
        self.tokens[i] = self.sign(raw)
        return user_id

    def peek(self, i: int) -> Any:
        return json.loads(self.unsign(self.tokens[i]))
