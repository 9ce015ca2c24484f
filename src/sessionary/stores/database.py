"""``DatabaseStore``: SQLite, PostgreSQL or MySQL/MariaDB through SQLAlchemy Core.

``sqlite:///path`` is the embedded default. A bare ``postgresql://`` uses
psycopg 3 (sync and async); a bare ``mysql://`` uses PyMySQL and aiomysql; a
URL may name its driver the SQLAlchemy way (``postgresql+asyncpg://``).
Async code runs on an async engine, sync code on a sync one; both execute the
statements of ``_sql.py``. The table is created by ``migrate()``
(``sessionary migrate``), never implicitly.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy.engine.url import URL

from .._clock import Clock
from ._adapters import InThread
from ._async.database import AsyncDatabaseBackend
from ._composed import ComposedStore
from ._deadline import AsyncDeadline, SyncDeadline, parse_seconds
from ._sql import (
    DEFAULT_TABLE,
    USER_ID_LENGTH,
    Statements,
    engine_urls,
    make_table,
    missing_driver,
)
from ._sync.database import SyncDatabaseBackend

__all__ = ["DatabaseStore"]

DEFAULT_TIMEOUT = 5.0


class DatabaseStore(ComposedStore):
    """Sessions in one SQL table, keyed by the hash of the session key.

    ``table`` names the table. ``timeout`` (seconds, default 5) bounds each
    operation, connection and statements together, sync and async: a server
    that stops answering fails the operation with ``StoreUnavailable`` within
    it, and the connection it held is discarded. ``connect_timeout`` (default:
    ``timeout``) bounds connecting and waiting for a pooled connection. Both
    may also be given in the URL (``?timeout=2&connect_timeout=1``).
    ``engine_options`` go to SQLAlchemy's ``create_engine`` for both engines.
    """

    def __init__(
        self,
        url: str,
        *,
        table: str = DEFAULT_TABLE,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        engine_options: dict[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.url = url
        url, from_query = _pop_timeouts(url)
        self.timeout = timeout or from_query.get("timeout") or DEFAULT_TIMEOUT
        connect_timeout = connect_timeout or from_query.get("connect_timeout") or self.timeout
        sync_url, async_url = engine_urls(url)
        statements = Statements(make_table(table))
        self.table = statements.table
        sync_options = _engine_options(sync_url, connect_timeout, self.timeout)
        async_options = _engine_options(async_url, connect_timeout, self.timeout)
        for options in (sync_options, async_options):
            _merge(options, engine_options or {})
        self._sync = SyncDatabaseBackend(
            sync_url, statements, self._now, sync_options, _sync_deadline(sync_url, self.timeout)
        )
        # SQLite's async path: the sync backend in a worker thread. Through
        # SQLAlchemy, aiosqlite hops to its own thread for every cursor call
        # (several a statement); one hop an operation costs half as much a
        # cycle (benchmarks/RESULTS.md), and SQLite has no network to wait on.
        # A URL that names its driver (``sqlite+aiosqlite://``) keeps the async engine.
        if sync_url.get_backend_name() == "sqlite" and "+" not in url.split("://", 1)[0]:
            self._async = InThread(self._sync)
        else:
            self._async = AsyncDatabaseBackend(
                async_url, statements, self._now, async_options, AsyncDeadline(self.timeout)
            )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DatabaseStore:
        return cls(url, **options)

    def __repr__(self) -> str:
        from sqlalchemy.engine import make_url

        return f"DatabaseStore({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def max_user_id_length(self) -> int | None:
        # The column's size on every dialect (SQLite would store more): an app
        # moving from SQLite to PostgreSQL meets the same limit.
        return USER_ID_LENGTH


def _merge(options: dict[str, Any], extra: dict[str, Any]) -> None:
    """The caller's engine options over ours; ``connect_args`` merged, not replaced."""
    for name, value in extra.items():
        if name == "connect_args":
            options[name] = {**options.get(name, {}), **value}
        else:
            options[name] = value


def _pop_timeouts(url: str) -> tuple[str, dict[str, float]]:
    """Take ``timeout`` and ``connect_timeout`` out of a URL's query: they are ours."""
    base, _, query = url.partition("?")
    kept, found = [], {}
    for pair in query.split("&") if query else []:
        name, _, value = pair.partition("=")
        seconds = parse_seconds(name, value) if name in ("timeout", "connect_timeout") else None
        if seconds is not None:
            found[name] = seconds
        else:
            kept.append(pair)
    return base + ("?" + "&".join(kept) if kept else ""), found


def _sync_deadline(url: URL, timeout: float) -> SyncDeadline:
    # psycopg's sync connections can wait on a socket forever: a watchdog
    # bounds them. PyMySQL has its own read timeout; SQLite has no network.
    driver = url.get_driver_name()
    if driver not in ("psycopg", "psycopg2"):
        return SyncDeadline(timeout)
    try:
        errors = importlib.import_module(driver).Error
    except ImportError as exc:
        raise missing_driver(url, exc) from exc

    def fileno(connection: Any) -> int:
        try:
            return int(connection.fileno())
        except errors:
            return -1  # already closed or lost: no socket left to stop

    return SyncDeadline(timeout, fileno=fileno)


def _engine_options(url: URL, connect_timeout: float, timeout: float) -> dict[str, Any]:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        # How long a writer waits for SQLite's lock before failing.
        return {"hide_parameters": True, "connect_args": {"timeout": max(timeout, 5.0)}}
    connect_args: dict[str, Any] = {"connect_timeout": int(max(1, connect_timeout))}
    if driver in ("psycopg", "psycopg2"):
        # A peer that vanishes (host down, network cut) is noticed by TCP
        # within about the timeout, whether we are sending or waiting.
        idle = int(max(1, timeout))
        connect_args.update(
            keepalives=1,
            keepalives_idle=idle,
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=int(timeout * 1000),
        )
    elif driver == "pymysql":
        connect_args.update(read_timeout=timeout, write_timeout=timeout)
    # No pool_pre_ping: it costs every request a round trip. A pooled connection
    # found dead is replaced by the backend's single-statement path instead.
    # A fixed pool with no overflow: under more concurrent requests than
    # connections, a request waits a moment for one rather than opening (and
    # then closing) an extra one, which costs far more. At 32 concurrent
    # tasks, SQLAlchemy's default (5 + 10 overflow) ran 2.5x slower.
    # hide_parameters: a failing statement's message never carries session
    # data or user ids into a log.
    return {
        "pool_size": 10,
        "max_overflow": 0,
        "pool_timeout": connect_timeout,
        "hide_parameters": True,
        "connect_args": connect_args,
    }
