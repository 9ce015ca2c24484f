"""CachedDatabaseStore: a cache outage degrades to the database, never to an error."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware, StoreUnavailable
from sessionary.stores import from_url
from sessionary.stores.cached_database import CachedDatabaseStore, split_url
from sessionary.stores.memory import MemoryStore

from .apps import asgi_app


class FlakyCache(MemoryStore):
    """A memory cache that can be switched off, as a dead cache server would be."""

    down = False

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name in ("load", "save", "delete", "forget", "apply") and self.down:

            async def fail(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailable("cache is down")

            return fail
        return attribute


@pytest.mark.parametrize(
    ("url", "db", "cache"),
    [
        ("cached+sqlite:///s.db?cache=redis://h:6379/0", "sqlite:///s.db", "redis://h:6379/0"),
        (
            "cached+postgresql://db/app?sslmode=disable&cache=redis%3A%2F%2Fh%3A6379%2F0",
            "postgresql://db/app?sslmode=disable",
            "redis://h:6379/0",
        ),
        ("cached+sqlite:///s.db?cache=memory://", "sqlite:///s.db", "memory://"),
    ],
)
def test_cache_url_raw_or_percent_encoded(url: str, db: str, cache: str) -> None:
    assert split_url(url) == (db, cache)


async def test_cache_outage_serves_from_the_database_and_catches_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = from_url(f"sqlite:///{tmp_path / 's.db'}")
    await database.migrate()
    cache = FlakyCache()
    store = CachedDatabaseStore(database, cache)
    config = SessionConfig(store=store)
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    caplog.set_level(logging.WARNING, logger="sessionary")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        key = (await c.get("/set?a=1")).cookies["sessionid"]
        cookie = {"cookie": f"sessionid={key}"}
        cache.down = True
        assert (await c.get("/set?b=2", headers=cookie)).status_code == 200
        assert (await c.get("/get?a=&b=", headers=cookie)).json() == {"a": "1", "b": "2"}
        assert "session cache unavailable" in caplog.text
        cache.down = False
        await c.get("/set?c=3", headers=cookie)
        await c.get("/get?a=", headers=cookie)  # the next read fills the cache again
        cached = await cache.load(key)
        assert cached is not None
        assert set(cached.data) == {"a", "b", "c"}
    await database.aclose()
