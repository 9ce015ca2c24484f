"""The peers on the same stores: Django 5's engines, Flask-Session, starsessions, Starlette.

Each runs the cycle through its own session object and store code: what its
middleware does per request, minus the HTTP (``e2e.py`` adds that back).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from .common import (
    MEMCACHED,
    PG_DSN,
    REDIS_URL,
    SECRET,
    TTL,
    Case,
    flip,
    require,
    require_server,
    seed,
)

# -- Django --------------------------------------------------------------------

# engine -> (SESSION_ENGINE module, servers it needs)
DJANGO_ENGINES = {
    "db-sqlite": ("db", ()),
    "db-postgresql": ("db", ("postgresql",)),
    "cache-redis": ("cache", ("redis",)),
    "cache-memcached": ("cache", ("memcached",)),
    "cached_db": ("cached_db", ("postgresql", "redis")),
    "file": ("file", ()),
    "signed_cookies": ("signed_cookies", ()),
}


def _pg_schema(ns: str, create: bool) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        if create:
            conn.execute(f"CREATE SCHEMA {ns}")
        else:
            conn.execute(f"DROP SCHEMA IF EXISTS {ns} CASCADE")


def configure_django(engine: str, ns: str, tmp: Path, middleware: bool = True) -> None:
    """Configure Django for one engine, in this process (settings are global)."""
    require("django")
    backend, servers = DJANGO_ENGINES[engine]
    for server in servers:
        require_server(server)
    if "postgresql" in servers:
        require("psycopg")
    import django
    from django.conf import settings

    databases: dict[str, Any] = {}
    if engine == "db-sqlite":
        databases["default"] = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(tmp / "django.db"),
        }
    elif "postgresql" in servers:
        # Our own schema: the stock django_session table, away from everyone else's.
        _pg_schema(ns, create=True)
        databases["default"] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": PG_DSN.rsplit("/", 1)[1],
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": None,  # one persistent connection, as a tuned site runs
            "OPTIONS": {"options": f"-c search_path={ns}"},
        }
    caches: dict[str, Any] = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    if "redis" in servers:
        caches["default"] = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": ns,
        }
    elif "memcached" in servers:
        caches["default"] = {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": f"{MEMCACHED[0]}:{MEMCACHED[1]}",
            "KEY_PREFIX": ns,
        }
    file_path = tmp / "django-sessions"
    file_path.mkdir(exist_ok=True)
    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.sessions"],
        DATABASES=databases,
        CACHES=caches,
        SESSION_ENGINE=f"django.contrib.sessions.backends.{backend}",
        SESSION_FILE_PATH=str(file_path),
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"] if middleware else [],
        ROOT_URLCONF="benchmarks._django_urls",
    )
    django.setup()
    if backend in ("db", "cached_db"):
        from django.contrib.sessions.models import Session
        from django.db import connection

        with connection.schema_editor() as editor:
            editor.create_model(Session)


class DjangoCase(Case):
    """``SessionStore(session_key=key)``, read, write, ``save()``."""

    engine = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        configure_django(self.engine, ns, tmp)
        from importlib import import_module

        from django.conf import settings

        self.store_class = import_module(settings.SESSION_ENGINE).SessionStore
        self.keys: list[str] = []

    def setup(self, count: int) -> None:
        for i in range(count):
            session = self.store_class()
            session.update(seed(i))
            session.save()
            self.keys.append(session.session_key)

    def cycle(self, i: int) -> Any:
        session = self.store_class(session_key=self.keys[i])
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        session.save()
        self.keys[i] = session.session_key  # signed_cookies re-issues its key
        return user_id

    def peek(self, i: int) -> Any:
        if self.engine == "cached_db":  # the database, not the cache, is the truth
            from django.contrib.sessions.backends.db import SessionStore

            return SessionStore(session_key=self.keys[i]).load()
        return self.store_class(session_key=self.keys[i]).load()

    def teardown(self) -> None:
        from django.core.cache import cache
        from django.db import connections

        if self.engine.startswith("cache"):
            for prefix in ("django.contrib.sessions.cache", "django.contrib.sessions.cached_db"):
                cache.delete_many([prefix + key for key in self.keys])
        connections.close_all()
        if DJANGO_ENGINES[self.engine][1] and "postgresql" in DJANGO_ENGINES[self.engine][1]:
            _pg_schema(self.ns, create=False)


def django_case(engine: str) -> type[DjangoCase]:
    return type(f"Django_{engine}", (DjangoCase,), {"engine": engine})


# -- Flask-Session -------------------------------------------------------------

FLASK_SESSION_KINDS = ("redis", "sqlalchemy", "cachelib")


def flask_session_app(kind: str, ns: str, tmp: Path) -> Any:
    """A Flask app with Flask-Session over ``kind``, in namespace ``ns``."""
    require("flask", "flask_session")
    from flask import Flask
    from flask_session import Session

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=SECRET,
        SESSION_PERMANENT=True,
        SESSION_KEY_PREFIX=f"{ns}:",
        SESSION_SERIALIZATION_FORMAT="json",
    )
    if kind == "redis":
        require("redis")
        require_server("redis")
        import redis

        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(REDIS_URL))
    elif kind == "sqlalchemy":
        require("flask_sqlalchemy")
        from flask_sqlalchemy import SQLAlchemy

        app.config.update(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'flask.db'}",
            SESSION_TYPE="sqlalchemy",
            SESSION_SQLALCHEMY_TABLE=ns,
            SESSION_CLEANUP_N_REQUESTS=None,
        )
        db = SQLAlchemy(app)
        app.config["SESSION_SQLALCHEMY"] = db
    else:
        require("cachelib")
        from cachelib import FileSystemCache

        app.config.update(
            SESSION_TYPE="cachelib",
            SESSION_CACHELIB=FileSystemCache(str(tmp / "flask-sessions"), threshold=0),
        )
    Session(app)
    return app


class FlaskSessionCase(Case):
    """What Flask-Session's ``open_session`` and ``save_session`` do with the store."""

    kind = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.app = flask_session_app(self.kind, ns, tmp)
        self.iface = self.app.session_interface
        self.context = self.app.app_context()
        self.context.push()
        self.keys: list[str] = []

    def setup(self, count: int) -> None:
        iface = self.iface
        for i in range(count):
            sid = iface._generate_sid(iface.sid_length)
            session = iface.session_class(seed(i), sid=sid, permanent=True)
            iface._upsert_session(
                self.app.permanent_session_lifetime, session, iface._get_store_id(sid)
            )
            self.keys.append(sid)

    def cycle(self, i: int) -> Any:
        iface = self.iface
        sid = self.keys[i]
        store_id = iface._get_store_id(sid)
        data = iface._retrieve_session_data(store_id)
        if data is None:
            raise AssertionError("Flask-Session found no session")
        session = iface.session_class(data, sid=sid)
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        if iface.should_set_storage(self.app, session):
            iface._upsert_session(self.app.permanent_session_lifetime, session, store_id)
        return user_id

    def peek(self, i: int) -> Any:
        return self.iface._retrieve_session_data(self.iface._get_store_id(self.keys[i]))

    def teardown(self) -> None:
        if self.kind == "redis":  # the others live in the run's temporary directory
            for sid in self.keys:
                self.iface._delete_session(self.iface._get_store_id(sid))
        self.context.pop()


def flask_session_case(kind: str) -> type[FlaskSessionCase]:
    return type(f"FlaskSession_{kind}", (FlaskSessionCase,), {"kind": kind})


# -- starsessions --------------------------------------------------------------


def starsessions_store(kind: str, ns: str) -> Any:
    require("starsessions", "starlette")
    if kind == "redis":
        require("redis")
        require_server("redis")
        import redis.asyncio
        from starsessions.stores.redis import RedisStore

        return RedisStore(connection=redis.asyncio.Redis.from_url(REDIS_URL), prefix=f"{ns}:")
    from starsessions.stores.cookie import CookieStore

    return CookieStore(secret_key=SECRET)


class StarsessionsCase(Case):
    """starsessions' own ``SessionHandler``: ``load()``, read, write, ``save()``."""

    mode = "async"
    kind = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        from starsessions.serializers import JsonSerializer

        self.store = starsessions_store(self.kind, ns)
        self.serializer = JsonSerializer()
        self.keys: list[str] = []

    def _handler(self, session_id: str | None) -> Any:
        from starlette.requests import HTTPConnection
        from starsessions.session import SessionHandler

        connection = HTTPConnection({"type": "http", "headers": []})
        return SessionHandler(connection, session_id, self.store, self.serializer, TTL)

    async def setup(self, count: int) -> None:
        for i in range(count):
            handler = self._handler(None)
            await handler.load()
            handler.connection.session.update(seed(i))
            self.keys.append(await handler.save(TTL))

    async def cycle(self, i: int) -> Any:
        handler = self._handler(self.keys[i])
        await handler.load()
        session = handler.connection.session
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        self.keys[i] = await handler.save(TTL)
        return user_id

    async def peek(self, i: int) -> Any:
        data = self.serializer.deserialize(await self.store.read(self.keys[i], TTL))
        data.pop("__metadata__", None)
        return data

    async def teardown(self) -> None:
        if self.kind == "redis":
            for key in self.keys:
                await self.store.remove(key)
            await self.store._connection.aclose()


def starsessions_case(kind: str) -> type[StarsessionsCase]:
    return type(f"Starsessions_{kind}", (StarsessionsCase,), {"kind": kind})


# -- Starlette's SessionMiddleware -----------------------------------------------


class StarletteCookie(Case):
    """Starlette's ``SessionMiddleware`` load and save code, on its own signer."""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        require("starlette", "itsdangerous")
        from starlette.middleware.sessions import SessionMiddleware

        self.middleware = SessionMiddleware(app=None, secret_key=SECRET)  # type: ignore[arg-type]
        self.signer = self.middleware.signer

    def _dump(self, data: dict[str, Any]) -> str:
        encoded = base64.b64encode(json.dumps(data).encode("utf-8"))
        return self.signer.sign(encoded).decode("utf-8")

    def _load(self, token: str) -> Any:
        data = self.signer.unsign(token.encode("utf-8"), max_age=self.middleware.max_age)
        return json.loads(base64.b64decode(data))

    def setup(self, count: int) -> None:
        self.tokens = [self._dump(seed(i)) for i in range(count)]

    def cycle(self, i: int) -> Any:
        session = self._load(self.tokens[i])
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        self.tokens[i] = self._dump(session)
        return user_id

    def peek(self, i: int) -> Any:
        return self._load(self.tokens[i])
