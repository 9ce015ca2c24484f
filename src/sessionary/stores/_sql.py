"""The SQL side of ``DatabaseStore``, without I/O: schema, statements, row codec.

Both the async backend and its generated sync twin execute what is built
here, so a query exists exactly once.
"""

from __future__ import annotations

import importlib
import json
import re
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL

from ..exceptions import ConfigurationError, CorruptRecord, MissingDependency
from .base import SessionRecord

DEFAULT_TABLE = "sessionary_session"
USER_ID_LENGTH = 255
"""The ``user_id`` column's size in characters; longer ids are refused at login."""

# Default drivers per dialect, (sync, async). psycopg 3 covers both for PostgreSQL.
_DRIVERS = {
    "sqlite": ("pysqlite", "aiosqlite"),
    "postgresql": ("psycopg", "psycopg"),
    "mysql": ("pymysql", "aiomysql"),
}
_ASYNC_ONLY = {"aiosqlite", "asyncpg", "aiomysql", "asyncmy"}
_EXTRAS = {
    "pysqlite": None,
    "aiosqlite": None,
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "asyncpg": "postgresql",
    "pymysql": "mysql",
    "aiomysql": "mysql",
    "mysqldb": "mysql",
    "asyncmy": "mysql",
}


def engine_urls(url: str) -> tuple[URL, URL]:
    """The (sync, async) SQLAlchemy URLs for a store URL, each with a driver."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError("store", f"unparsable database URL: {exc}") from None
    backend = {"postgres": "postgresql", "mariadb": "mysql"}.get(
        parsed.get_backend_name(), parsed.get_backend_name()
    )
    if backend not in _DRIVERS:
        raise ConfigurationError("store", f"unsupported database {backend!r}")
    sync_driver, async_driver = _DRIVERS[backend]
    named = parsed.drivername.partition("+")[2]
    if named:
        if named in _ASYNC_ONLY:
            async_driver = named
        else:
            sync_driver = named
            if backend == "postgresql" and named == "psycopg":
                async_driver = named
    base = parsed.set(drivername=backend)
    return base.set(drivername=f"{backend}+{sync_driver}"), base.set(
        drivername=f"{backend}+{async_driver}"
    )


def missing_driver(url: URL, exc: BaseException) -> MissingDependency:
    driver = url.drivername.partition("+")[2]
    extra = _EXTRAS.get(driver) or url.get_backend_name()
    return MissingDependency(f"database driver {driver!r} ({exc})", extra)


def configure_sqlite(engine: sa.Engine) -> None:
    """Make SQLite's write transactions take the write lock up front.

    SQLite has no row locks: a deferred transaction that reads then writes
    can fail to upgrade under concurrency. ``BEGIN IMMEDIATE`` serialises
    writers at the start instead (SQLAlchemy's documented recipe: the driver
    stops managing transactions and we emit BEGIN ourselves). Connections run
    with the ``sessionary_write`` execution option are the writers.
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        # WAL lets readers proceed beside the one writer (it sticks to the file).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        writer = connection.get_execution_options().get("sessionary_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def make_table(name: str = DEFAULT_TABLE, metadata: sa.MetaData | None = None) -> sa.Table:
    """The session table: one row a session, keyed by the key's hash."""
    payload = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("payload", payload, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
        sa.Column("expires", sa.Double, nullable=False, index=True),
        sa.Column("user_id", sa.String(USER_ID_LENGTH), nullable=True, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        mysql_charset="utf8mb4",
    )


class Statements:
    """Every statement the store runs, built once per table."""

    def __init__(self, table: sa.Table) -> None:
        c = table.c
        self.table = table
        columns = (c.payload, c.created, c.last_seen, c.expires, c.user_id, c.version)
        self.load = sa.select(*columns).where(
            c.key_hash == sa.bindparam("h"), c.expires > sa.bindparam("now")
        )
        self.load_for_update = (
            sa.select(*columns)
            .where(c.key_hash == sa.bindparam("h"), c.expires > sa.bindparam("now"))
            .with_for_update()
        )
        self.insert = sa.insert(table)
        self.replace = (
            sa.update(table)
            .where(c.key_hash == sa.bindparam("h"))
            .values(
                payload=sa.bindparam("payload"),
                created=sa.bindparam("created"),
                last_seen=sa.bindparam("last_seen"),
                expires=sa.bindparam("expires"),
                user_id=sa.bindparam("user_id"),
                version=sa.bindparam("version"),
            )
        )
        values: dict[str, Any] = {
            name: sa.bindparam(name) for name in ("payload", "last_seen", "expires")
        }
        versioned = sa.update(table).where(
            c.key_hash == sa.bindparam("h"), c.version == sa.bindparam("v")
        )
        self.update = versioned.values(
            **values, user_id=sa.bindparam("user_id"), version=sa.bindparam("version")
        )
        # The same update for a request that did not log in or out: the row's
        # user_id already holds the base's (the version check proves it), and
        # leaving it out of SET spares its index an update on every save.
        self.update_data = versioned.values(**values, version=sa.bindparam("version"))
        self.delete = sa.delete(table).where(c.key_hash == sa.bindparam("h"))
        self.exists = sa.select(c.key_hash).where(
            c.key_hash == sa.bindparam("h"), c.expires > sa.bindparam("now")
        )
        self.expired_batch = (
            sa.select(c.key_hash)
            .where(c.expires <= sa.bindparam("now"))
            .limit(sa.bindparam("n", type_=sa.Integer, literal_execute=True))
        )
        self.delete_many = sa.delete(table).where(
            c.key_hash.in_(sa.bindparam("hs", expanding=True)),
            c.expires <= sa.bindparam("now"),
        )
        self.for_user = (
            sa.select(c.key_hash, *columns)
            .where(c.user_id == sa.bindparam("u"), c.expires > sa.bindparam("now"))
            .order_by(c.created)
        )
        self.revoke_one = sa.delete(table).where(
            c.user_id == sa.bindparam("u"), c.key_hash == sa.bindparam("h")
        )
        self.revoke_all = sa.delete(table).where(c.user_id == sa.bindparam("u"))
        self.revoke_others = sa.delete(table).where(
            c.user_id == sa.bindparam("u"), c.key_hash != sa.bindparam("h")
        )

    def create_schema(self, conn: sa.Connection) -> bool:
        """Create the table and its indexes unless it exists; return whether it was created."""
        if sa.inspect(conn).has_table(self.table.name, schema=self.table.schema):
            return False
        self.table.metadata.create_all(conn)
        return True


# The hot statements run on the driver's own connection, as SQL compiled once
# per dialect, where the driver's connection has ``execute(sql, params)``
# returning a cursor (sqlite3, aiosqlite, psycopg 3, sync or async alike):
# SQLAlchemy's per-statement machinery (cache lookup, execution context,
# result wrapping) was most of a cycle's Python time. Other drivers (PyMySQL,
# aiomysql, asyncpg, psycopg2) keep the SQLAlchemy path; so do the rare
# statements everywhere. The error module gives the driver's base error.
_NATIVE = {"pysqlite": "sqlite3", "aiosqlite": "sqlite3", "psycopg": "psycopg"}


class Hot:
    """One statement compiled for one dialect: its SQL and how to lay out its parameters."""

    __slots__ = ("order", "rows", "sql")

    def __init__(self, statement: Any, dialect: sa.Dialect, *, rows: bool) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        # qmark/numeric drivers take a tuple in the order the SQL names them.
        self.order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.rows = rows

    def args(self, params: dict[str, Any]) -> Any:
        return params if self.order is None else tuple(params[name] for name in self.order)


class Native:
    """The hot statements (load, the versioned updates, insert) for one engine's driver."""

    def __init__(self, statements: Statements, dialect: sa.Dialect, error: type[Exception]) -> None:
        self.load = Hot(statements.load, dialect, rows=True)
        self.update = Hot(statements.update, dialect, rows=False)
        self.update_data = Hot(statements.update_data, dialect, rows=False)
        self.insert = Hot(statements.insert, dialect, rows=False)
        self.dialect = dialect
        self.error = error

    def wrap(self, hot: Hot, exc: Exception, dbapi_connection: Any) -> sa.exc.DBAPIError:
        """The driver's error as SQLAlchemy would have raised it: same class, no parameters."""
        invalidated = bool(self.dialect.is_disconnect(cast(Any, exc), dbapi_connection, None))
        # ``exc`` is an instance of ``self.error``, so this is a DBAPIError subclass.
        wrapped = sa.exc.DBAPIError.instance(
            hot.sql,
            None,
            exc,
            self.error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=self.dialect,
        )
        return cast(sa.exc.DBAPIError, wrapped)


def native_statements(statements: Statements, engine: sa.Engine) -> Native | None:
    """The compiled hot statements for ``engine``'s driver, or None where it has no fast path."""
    module = _NATIVE.get(engine.dialect.driver)
    if module is None:
        return None
    error: type[Exception] = importlib.import_module(module).Error
    return Native(statements, engine.dialect, error)


def encode_payload(record: SessionRecord) -> str:
    return json.dumps({"d": record.data, "m": record.meta}, separators=(",", ":"))


def record_from_row(key_hash: str, row: Any) -> SessionRecord:
    payload, created, last_seen, expires, user_id, version = row
    try:
        decoded = json.loads(payload)
        data, meta = decoded["d"], decoded["m"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptRecord(f"session record {key_hash[:12]}… is not valid: {exc}") from None
    if (
        not isinstance(data, dict)
        or not isinstance(meta, dict)
        or not all(isinstance(v, str) for v in data.values())
    ):
        raise CorruptRecord(f"session record {key_hash[:12]}… has the wrong shape")
    return SessionRecord(
        key_hash=key_hash,
        data=data,
        created=created,
        last_seen=last_seen,
        expires=expires,
        user_id=user_id,
        version=version,
        meta=meta,
    )


def row_values(record: SessionRecord) -> dict[str, Any]:
    return {
        "payload": encode_payload(record),
        "created": record.created,
        "last_seen": record.last_seen,
        "expires": record.expires,
        "user_id": record.user_id,
        "version": record.version,
    }


_UNAVAILABLE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


class translate_errors:  # noqa: N801 - used as a statement, like contextlib's helpers
    """Re-raise the driver's errors as sessionary's (``StoreUnavailable`` for outages)."""

    def __init__(self, url: URL, *, creating: bool = False) -> None:
        self.url = url
        self.creating = creating

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:  # the common case: no import statement on every operation
            return
        from ..exceptions import SessionKeyExists, StoreDataError, StoreError, StoreUnavailable

        if isinstance(exc, TimeoutError):
            raise StoreUnavailable(f"database did not answer in time ({exc})") from exc
        if isinstance(exc, sa.exc.IntegrityError) and self.creating and _is_duplicate_key(exc):
            raise SessionKeyExists("session key already exists") from exc
        if _is_refused_value(exc):
            # The row, not the server: a value too long for its column, out of range.
            # The first line only, and no cause: the rest may quote the row.
            raise StoreDataError(f"database refused the value: {_first_line(exc)}") from None
        if isinstance(exc, sa.exc.NoSuchModuleError | ModuleNotFoundError):
            raise missing_driver(self.url, exc) from exc
        if isinstance(exc, sa.exc.DBAPIError) and (fault := _operator_fault(exc.orig, self.url)):
            raise StoreError(fault) from exc
        if isinstance(exc, _UNAVAILABLE_ERRORS) or (
            isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
        ):
            raise StoreUnavailable(f"database unavailable: {_first_line(exc)}") from exc
        if isinstance(exc, sa.exc.SQLAlchemyError | OSError):
            # Only the first line, and not the driver's error as the cause: the
            # rest may quote the row (PostgreSQL's "Failing row contains ..."),
            # which holds session data, and the error is logged with its chain.
            raise StoreError(f"database error: {_first_line(exc)}") from None


def _is_duplicate_key(exc: sa.exc.IntegrityError) -> bool:
    """A unique-key clash (the key exists), not another constraint refusing the row.

    Taking any integrity error for a clash would make the caller retry a new
    key, forever, for a row no key can save.
    """
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MySQL/MariaDB: ER_DUP_ENTRY
        return args[0] == 1062
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:  # PostgreSQL: unique_violation
        return bool(code == "23505")
    return "unique" in str(orig).lower()  # SQLite: "UNIQUE constraint failed"


# A row the server refuses, whatever class the driver files it under (MariaDB
# reports a failed CHECK, 4025, as an OperationalError): too long, out of
# range, a string it cannot store, a NULL or a constraint it forbids.
_REFUSED_VALUE = {1048, 1264, 1366, 1406, 3819, 4025}


def _is_refused_value(exc: BaseException) -> bool:
    """A data error (the row), not an outage (the server) nor a taken key."""
    if isinstance(exc, sa.exc.DataError):
        return True
    if isinstance(exc, sa.exc.IntegrityError):
        return not _is_duplicate_key(exc)
    return isinstance(exc, sa.exc.DBAPIError) and (
        exc.orig is not None and _driver_code(exc.orig) in _REFUSED_VALUE
    )


# Faults the operator fixes in the URL or the schema, told apart by the driver's
# codes (MySQL's error number from PyMySQL/aiomysql, else the SQLSTATE from
# psycopg/asyncpg), never by a phrase such as "does not exist" that several share.
_MISSING_TABLE = {"42P01", 1146}
_MISSING_DATABASE = {"3D000", 1049}
_LOGIN_REFUSED = {"28000", "28P01", 1044, 1045, 1698}
# libpq reports a failed connection as text alone (no SQLSTATE), so for those
# the server's line is read: it names the missing database or role.
_PG_MISSING = re.compile(r'(?:^|FATAL:\s+)(database|role) "([^"]*)" does not exist')


def _driver_code(orig: BaseException) -> str | int | None:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _operator_fault(orig: BaseException | None, url: URL) -> str | None:
    """What the operator must fix (missing table, database or role, a refused login)."""
    if orig is None:
        return None
    where = f"{url.host or 'localhost'}{f':{url.port}' if url.port else ''}"
    code = _driver_code(orig)
    # SQLite gives every SQL error one generic code; its message is all there is.
    if code in _MISSING_TABLE or str(orig).startswith("no such table"):
        return "the session table does not exist: run 'sessionary migrate --store URL'"
    if code in (None, "3D000", "28000") and (match := _PG_MISSING.search(str(orig))):
        kind, name = match.groups()
        return f"{kind} {name!r} does not exist on {where}: create it or fix the URL"
    if code in _MISSING_DATABASE:
        return f"database {url.database!r} does not exist on {where}: create it or fix the URL"
    if code in _LOGIN_REFUSED:
        return f"{where} refused the login of user {url.username!r}: check the URL's credentials"
    return None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
