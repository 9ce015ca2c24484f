"""SQL backend of ``DatabaseStore``, async (source of the generated sync twin)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine.url import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..._clock import Clock
from ...exceptions import StoreError
from .._sql import (
    Statements,
    configure_sqlite,
    missing_driver,
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


class AsyncDatabaseBackend:
    """Runs the store's statements on an engine created on first use."""

    def __init__(
        self, url: URL, statements: Statements, clock: Clock, engine_options: dict[str, Any]
    ) -> None:
        self.url = url
        self.statements = statements
        self.clock = clock
        self.engine_options = engine_options
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None

    def engine(self) -> AsyncEngine:
        if self._engine is None:
            try:
                engine = create_async_engine(self.url, **self.engine_options)
            except (ImportError, sa.exc.NoSuchModuleError) as exc:
                raise missing_driver(self.url, exc) from exc
            if self.url.get_backend_name() == "sqlite":
                configure_sqlite(engine.sync_engine)
            self._engine = engine
        return self._engine

    def writer(self) -> AsyncEngine:
        """The engine for write transactions (on SQLite they start BEGIN IMMEDIATE)."""
        if self._writer is None:
            self._writer = self.engine().execution_options(sessionary_write=True)
        return self._writer

    async def load(self, key_hash: str) -> SessionRecord | None:
        with translate_errors(self.url):
            async with self.engine().connect() as conn:
                result = await conn.execute(
                    self.statements.load, {"h": key_hash, "now": self.clock()}
                )
                row = result.first()
        return None if row is None else record_from_row(key_hash, row)

    async def save(self, record: SessionRecord, *, must_create: bool) -> None:
        values = row_values(record)
        with translate_errors(self.url, creating=True):
            async with self.writer().begin() as conn:
                if not must_create:
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
        with translate_errors(self.url):
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
        with translate_errors(self.url):
            async with self.writer().begin() as conn:
                await conn.execute(self.statements.delete, {"h": key_hash})

    async def exists(self, key_hash: str) -> bool:
        with translate_errors(self.url):
            async with self.engine().connect() as conn:
                result = await conn.execute(
                    self.statements.exists, {"h": key_hash, "now": self.clock()}
                )
                return result.first() is not None

    async def clear_expired(self, batch_size: int, progress: Progress | None) -> int:
        s = self.statements
        removed = 0
        now = self.clock()
        with translate_errors(self.url):
            while True:
                async with self.writer().begin() as conn:
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
        with translate_errors(self.url):
            async with self.engine().connect() as conn:
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
        with translate_errors(self.url):
            async with self.writer().begin() as conn:
                result = await conn.execute(statement, params)
                return int(result.rowcount)

    async def migrate(self) -> None:
        with translate_errors(self.url):
            async with self.writer().begin() as conn:
                await conn.run_sync(self.statements.table.metadata.create_all)

    async def aclose(self) -> None:
        if self._engine is not None:
            engine, self._engine, self._writer = self._engine, None, None
            await engine.dispose()
