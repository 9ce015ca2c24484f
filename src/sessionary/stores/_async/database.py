"""SQL backend of ``DatabaseStore``, async (source of the generated sync twin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..._clock import Clock
from ...exceptions import StoreError
from .._deadline import AsyncDeadline
from .._loops import AsyncPerLoop
from .._sql import (
    Hot,
    Native,
    Statements,
    configure_sqlite,
    missing_driver,
    native_statements,
    record_from_row,
    row_values,
    translate_errors,
)
from ..base import (
    ALL,
    ALL_BUT_CURRENT,
    Change,
    Progress,
    SessionInfo,
    SessionRecord,
    apply_change,
)

# Concurrent writers of one session retry an optimistic update this often
# (the retry takes a row lock where the database has them, so one suffices).
MAX_ATTEMPTS = 10


class Engines:
    """The engines of one event loop: transactions (and their writer view), and autocommit."""

    def __init__(self, engine: AsyncEngine, autocommit: AsyncEngine, native: Native | None) -> None:
        self.engine = engine
        self.writer = engine.execution_options(sessionary_write=True)
        self.autocommit = autocommit
        self.native = native


class AsyncDatabaseBackend:
    """Runs the store's statements on engines made on first use in each event loop."""

    def __init__(
        self,
        url: URL,
        statements: Statements,
        clock: Clock,
        engine_options: dict[str, Any],
        deadline: AsyncDeadline,
    ) -> None:
        self.url = url
        self.statements = statements
        self.clock = clock
        self.engine_options = engine_options
        self.deadline = deadline
        self._engines = AsyncPerLoop(self._make_engines, self._dispose)

    def _make_engines(self) -> Engines:
        engine = self._create()
        if self.url.get_backend_name() == "sqlite":
            configure_sqlite(engine.sync_engine)
        # A second pool whose connections stay in autocommit mode, for single
        # statements. Fixing the mode once per connection, rather than switching
        # it at each checkout, and skipping the rollback-on-return (there is
        # never a transaction to end) saves a third of a statement's cost in
        # SQLAlchemy. No BEGIN at all, on SQLite either: one statement is atomic.
        autocommit = self._create(isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
        self.deadline.attach(engine.sync_engine)
        self.deadline.attach(autocommit.sync_engine)
        native = native_statements(self.statements, autocommit.sync_engine)
        return Engines(engine, autocommit, native)

    async def _dispose(self, engines: Engines) -> None:
        await engines.engine.dispose()
        await engines.autocommit.dispose()

    def engine(self) -> AsyncEngine:
        return self._engines.get().engine

    def writer(self) -> AsyncEngine:
        """The engine for write transactions (on SQLite they start BEGIN IMMEDIATE)."""
        return self._engines.get().writer

    def autocommit_engine(self) -> AsyncEngine:
        return self._engines.get().autocommit

    def _create(self, **options: Any) -> AsyncEngine:
        try:
            return create_async_engine(self.url, **self.engine_options, **options)
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            raise missing_driver(self.url, exc) from exc

    @asynccontextmanager
    async def _guard(self, *, creating: bool = False) -> AsyncIterator[None]:
        """One operation: the driver's errors translated, its time bounded."""
        with translate_errors(self.url, creating=creating):
            async with self.deadline.bound():
                yield

    async def _one(
        self, statement: Any, params: dict[str, Any], hot: str | None = None
    ) -> tuple[Any, int]:
        """Run one statement outside a transaction: one round trip, no BEGIN or COMMIT.

        Returns the first row (if the statement returns rows) and the row
        count. ``hot`` names the compiled twin (``load``, ``update``,
        ``insert``) run on the driver's own connection where the driver has a
        fast path. A pooled connection found dead (the server restarted) is
        replaced once, so no request pays a liveness ping for that case.
        """
        engines = self._engines.get()
        native = engines.native if hot is not None else None
        for attempt in range(2):
            try:
                async with engines.autocommit.connect() as conn:
                    if native is not None:
                        return await self._native(conn, native, getattr(native, str(hot)), params)
                    result = await conn.execute(statement, params)
                    row = result.first() if result.returns_rows else None
                    return row, result.rowcount
            except sa.exc.DBAPIError as exc:
                if attempt or not exc.connection_invalidated or self.deadline.expired():
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _native(
        conn: AsyncConnection, native: Native, hot: Hot, params: dict[str, Any]
    ) -> tuple[Any, int]:
        """One compiled statement on the pooled connection's driver connection.

        The connection was checked out through the pool (its deadline watch
        and liveness handling stay as they are); only SQLAlchemy's execution
        is skipped. The driver's errors are raised as SQLAlchemy's, without
        parameters, and a connection left in an unknown state (a dead server,
        a statement cut short) is invalidated rather than pooled again.
        """
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            cursor = await driver.execute(hot.sql, hot.args(params))
            try:
                row = await cursor.fetchone() if hot.rows else None
                return row, cursor.rowcount
            finally:
                await cursor.close()
        except native.error as exc:
            error = native.wrap(hot, exc, raw.dbapi_connection)
            if error.connection_invalidated:
                await conn.invalidate(exc)
            raise error from None
        except BaseException:
            await conn.invalidate()
            raise

    async def load(self, key_hash: str) -> SessionRecord | None:
        async with self._guard():
            params = {"h": key_hash, "now": self.clock()}
            row, _ = await self._one(self.statements.load, params, "load")
        return None if row is None else record_from_row(key_hash, row)

    async def save(self, record: SessionRecord, *, must_create: bool) -> None:
        values = row_values(record)
        async with self._guard(creating=True):
            if must_create:  # a new session: one INSERT is atomic on its own
                params = {"key_hash": record.key_hash, **values}
                await self._one(self.statements.insert, params, "insert")
                return
            async with self.writer().begin() as conn:
                result = await conn.execute(
                    self.statements.replace, {"h": record.key_hash, **values}
                )
                if result.rowcount == 1:
                    return
                await conn.execute(self.statements.insert, {"key_hash": record.key_hash, **values})

    async def apply(
        self, key_hash: str, change: Change, base: SessionRecord | None
    ) -> SessionRecord | None:
        s = self.statements
        async with self._guard():
            if base is not None:
                # The common case: nobody wrote since our load, and one versioned
                # UPDATE, atomic on its own, applies the change in one round trip.
                updated = apply_change(base, change)
                params = row_values(updated)
                del params["created"]
                params.update(h=key_hash, v=base.version)
                hot = "update" if change.set_user else "update_data"
                if not change.set_user:
                    del params["user_id"]
                _, count = await self._one(getattr(s, hot), params, hot)
                if count == 1:
                    return updated
                base = None
            for _ in range(MAX_ATTEMPTS):
                async with self.writer().begin() as conn:
                    if base is None:
                        result = await conn.execute(
                            s.load_for_update, {"h": key_hash, "now": self.clock()}
                        )
                        row = result.first()
                        if row is None:
                            return None
                        base = record_from_row(key_hash, row)
                    updated = apply_change(base, change)
                    params = row_values(updated)
                    del params["created"]
                    result = await conn.execute(
                        s.update, {"h": key_hash, "v": base.version, **params}
                    )
                    if result.rowcount == 1:
                        return updated
                base = None
        raise StoreError(f"session update kept conflicting after {MAX_ATTEMPTS} attempts")

    async def delete(self, key_hash: str) -> None:
        async with self._guard(), self.writer().begin() as conn:
            await conn.execute(self.statements.delete, {"h": key_hash})

    async def exists(self, key_hash: str) -> bool:
        async with self._guard():
            row, _ = await self._one(self.statements.exists, {"h": key_hash, "now": self.clock()})
        return row is not None

    async def clear_expired(self, batch_size: int, progress: Progress | None) -> int:
        s = self.statements
        removed = 0
        now = self.clock()
        with translate_errors(self.url):
            while True:
                async with self.deadline.bound(), self.writer().begin() as conn:
                    result = await conn.execute(s.expired_batch, {"now": now, "n": batch_size})
                    hashes = [row[0] for row in result]
                    if hashes:
                        await conn.execute(s.delete_many, {"hs": hashes, "now": now})
                removed += len(hashes)
                if progress is not None and hashes:
                    progress(removed)
                if len(hashes) < batch_size:
                    return removed

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        async with self._guard(), self.engine().connect() as conn:
            result = await conn.execute(
                self.statements.for_user, {"u": user_id, "now": self.clock()}
            )
            rows = result.all()
        return [SessionInfo.from_record(record_from_row(row[0], row[1:])) for row in rows]

    async def revoke(self, user_id: str, target: str, keep: str | None) -> int:
        s = self.statements
        if target == ALL_BUT_CURRENT and keep is not None:
            statement, params = s.revoke_others, {"u": user_id, "h": keep}
        elif target in (ALL, ALL_BUT_CURRENT):
            statement, params = s.revoke_all, {"u": user_id}
        else:
            statement, params = s.revoke_one, {"u": user_id, "h": target}
        async with self._guard(), self.writer().begin() as conn:
            result = await conn.execute(statement, params)
            return int(result.rowcount)

    async def migrate(self) -> bool:
        with translate_errors(self.url):
            async with self.writer().begin() as conn:
                return bool(await conn.run_sync(self.statements.create_schema))

    async def aclose(self) -> None:
        await self._engines.aclose()
