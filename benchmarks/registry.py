"""Every case, by name: which store it measures, which library, which mode.

Importing this module imports no driver or framework: each case imports
what it needs when it is built, in its own worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from . import e2e, ours, peers, raw
from .common import Case
from .options import STORES  # the order the report shows them; the values of --store

__all__ = ["CASES", "STORES", "STORE_TITLES", "Spec"]
STORE_TITLES = {
    "redis": "Redis",
    "memcached": "Memcached",
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "cached_db": "Redis cache over PostgreSQL",
    "file": "file",
    "cookie": "cookie",
    "memory": "memory",
}


@dataclass(frozen=True)
class Spec:
    name: str
    store: str
    kind: str  # raw | ours | peer | e2e | floor
    library: str
    mode: str  # sync | async | async x32
    build: Callable[[], type[Case]]
    floor: str | None = None  # e2e: the case whose time is subtracted

    @property
    def label(self) -> str:
        return f"{self.library} ({self.mode})" if self.kind in ("ours", "e2e") else self.library


CASES: dict[str, Spec] = {}


def _add(spec: Spec) -> None:
    CASES[spec.name] = spec


def _returns(cls: type[Case]) -> Callable[[], type[Case]]:
    """A builder bound to ``cls`` now (a lambda in a loop would see the loop's last class)."""
    return lambda: cls


def _raw(store: str, library: str, cls: type[Case], mode: str = "sync") -> None:
    _add(Spec(f"raw/{store}/{mode}", store, "raw", library, mode, lambda: cls))


_raw("redis", "redis-py GET + SET EX", raw.RawRedis)
_raw("redis", "redis.asyncio GET + SET EX", raw.RawRedisAsync, "async")
_raw("memcached", "pymemcache get + set", raw.RawMemcached)
_raw("memcached", "aiomcache get + set", raw.RawMemcachedAsync, "async")
_raw("sqlite", "sqlite3 SELECT + UPDATE", raw.RawSQLite)
_raw("sqlite", "aiosqlite SELECT + UPDATE", raw.RawSQLiteAsync, "async")
_raw("postgresql", "psycopg SELECT + UPDATE", raw.RawPostgres)
_raw("postgresql", "psycopg async SELECT + UPDATE", raw.RawPostgresAsync, "async")
_raw("cached_db", "Redis GET + PG UPDATE + Redis SET", raw.RawCachedPostgres)
_raw("file", "read + atomic replace", raw.RawFile)
_raw("cookie", "JSON + HMAC-SHA256", raw.RawCookie)
_raw("memory", "dict + JSON", raw.RawMemory)

for _store in STORES:
    for _mode, _cls in ours.variants(_store).items():
        _add(Spec(f"ours/{_store}/{_mode}", _store, "ours", "sessionary", _mode, _returns(_cls)))

_DJANGO_STORE = {
    "db-sqlite": "sqlite",
    "db-postgresql": "postgresql",
    "cache-redis": "redis",
    "cache-memcached": "memcached",
    "cached_db": "cached_db",
    "file": "file",
    "signed_cookies": "cookie",
}
for _engine, _store in _DJANGO_STORE.items():
    _add(
        Spec(
            f"django/{_engine}",
            _store,
            "peer",
            f"Django {_engine}",
            "sync",
            partial(peers.django_case, _engine),
        )
    )
_FLASK_STORE = {"redis": "redis", "sqlalchemy": "sqlite", "cachelib": "file"}
for _kind, _store in _FLASK_STORE.items():
    _add(
        Spec(
            f"flask-session/{_kind}",
            _store,
            "peer",
            f"Flask-Session {_kind}",
            "sync",
            partial(peers.flask_session_case, _kind),
        )
    )
_STARSESSIONS_STORE = {"redis": "redis", "cookie": "cookie"}
for _kind, _store in _STARSESSIONS_STORE.items():
    _add(
        Spec(
            f"starsessions/{_kind}",
            _store,
            "peer",
            f"starsessions {_kind}",
            "async",
            partial(peers.starsessions_case, _kind),
        )
    )
_add(
    Spec(
        "starlette/cookie",
        "cookie",
        "peer",
        "Starlette SessionMiddleware",
        "sync",
        lambda: peers.StarletteCookie,
    )
)

# End to end, each beside its framework's floor.
_add(
    Spec(
        "floor/starlette",
        "-",
        "floor",
        "Starlette, no sessions",
        "async",
        lambda: e2e.StarletteFloor,
    )
)
_add(Spec("floor/flask", "-", "floor", "Flask, no sessions", "sync", lambda: e2e.FlaskFloor))
_add(Spec("floor/django", "-", "floor", "Django, no middleware", "sync", lambda: e2e.DjangoFloor))
for _store in STORES:
    _add(
        Spec(
            f"e2e/ours-asgi/{_store}",
            _store,
            "e2e",
            "sessionary ASGI on Starlette",
            "async",
            partial(e2e.ours_asgi, _store),
            floor="floor/starlette",
        )
    )
    _add(
        Spec(
            f"e2e/ours-wsgi/{_store}",
            _store,
            "e2e",
            "sessionary WSGI on Flask",
            "sync",
            partial(e2e.ours_wsgi, _store),
            floor="floor/flask",
        )
    )
for _engine in ("db-sqlite", "db-postgresql", "cache-redis", "signed_cookies"):
    _add(
        Spec(
            f"e2e/django/{_engine}",
            _DJANGO_STORE[_engine],
            "e2e",
            f"Django {_engine}",
            "sync",
            partial(e2e.django_e2e, _engine),
            floor="floor/django",
        )
    )
for _kind in ("redis", "sqlalchemy"):
    _add(
        Spec(
            f"e2e/flask-session/{_kind}",
            _FLASK_STORE[_kind],
            "e2e",
            f"Flask-Session {_kind}",
            "sync",
            partial(e2e.flask_session_e2e, _kind),
            floor="floor/flask",
        )
    )
for _kind in ("redis", "cookie"):
    _add(
        Spec(
            f"e2e/starsessions/{_kind}",
            _kind,
            "e2e",
            f"starsessions {_kind}",
            "async",
            partial(e2e.starsessions_e2e, _kind),
            floor="floor/starlette",
        )
    )
_add(
    Spec(
        "e2e/starlette/cookie",
        "cookie",
        "e2e",
        "Starlette SessionMiddleware",
        "async",
        lambda: e2e.StarletteE2E,
        floor="floor/starlette",
    )
)
