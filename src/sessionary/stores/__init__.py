"""Session stores, and :func:`from_url` that builds any of them from a URL.

Store modules are imported only when a URL names them, so a driver that is
not installed costs nothing until it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError
from .base import ALL, ALL_BUT_CURRENT, Change, SessionInfo, SessionRecord, Store

if TYPE_CHECKING:
    from .cookie import CookieStore
    from .database import DatabaseStore
    from .memory import MemoryStore
    from .redis import RedisStore

__all__ = [
    "ALL",
    "ALL_BUT_CURRENT",
    "CachedDatabaseStore",
    "Change",
    "CookieStore",
    "DatabaseStore",
    "FileStore",
    "MemcachedStore",
    "MemoryStore",
    "RedisStore",
    "SessionInfo",
    "SessionRecord",
    "Store",
    "from_url",
]

# URL scheme (before any "+driver") -> "module:Class".
_SCHEMES = {
    "memory": "memory:MemoryStore",
    "sqlite": "database:DatabaseStore",
    "postgresql": "database:DatabaseStore",
    "postgres": "database:DatabaseStore",
    "mysql": "database:DatabaseStore",
    "mariadb": "database:DatabaseStore",
    "redis": "redis:RedisStore",
    "rediss": "redis:RedisStore",
    "memcached": "memcached:MemcachedStore",
    "cached": "cached_database:CachedDatabaseStore",
    "file": "file:FileStore",
    "cookie": "cookie:CookieStore",
}
_CLASSES = {target.split(":")[1]: target for target in _SCHEMES.values()}


def _store_class(target: str) -> Any:
    module_name, _, class_name = target.partition(":")
    qualified = f"{__name__}.{module_name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise
        raise ConfigurationError("store", f"{class_name} is not available yet") from None
    return getattr(module, class_name)


def from_url(url: str, **options: Any) -> Store:
    """Build the store a URL names, e.g. ``redis://localhost:6379/0``.

    ``options`` go to the store's constructor. An unknown scheme or a malformed
    URL raises :class:`~sessionary.exceptions.ConfigurationError`.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError("store", f"{url!r} is not a store URL (like 'sqlite:///x.db')")
    scheme = url.split("://", 1)[0].lower()
    target = _SCHEMES.get(scheme.split("+", 1)[0])
    if target is None:
        known = ", ".join(sorted(_SCHEMES))
        raise ConfigurationError("store", f"unknown store scheme {scheme!r} (known: {known})")
    _check_ports(url)
    if target == _SCHEMES["sqlite"]:  # every SQL scheme names DatabaseStore
        _require_sql_drivers(url)
    try:
        store: Store = _store_class(target).from_url(url, **options)
    except ValueError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        # A driver's own URL parser (SQLAlchemy's, redis-py's) refusing a part.
        raise ConfigurationError("store", f"invalid store URL: {exc}") from exc
    return store


def _check_ports(url: str) -> None:
    # Drivers parse the URL only when they first connect, and then fail with a
    # bare ValueError: check the ports of every host now, at start-up.
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    for host in netloc.split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        port = port.partition(":")[2]
        if port and not port.isdigit():
            raise ConfigurationError("store", f"the port {port!r} of {host!r} is not a number")


def _require_sql_drivers(url: str) -> None:
    """Import the drivers a database URL needs now, not at the first request."""
    from sqlalchemy.exc import NoSuchModuleError

    from ._sql import engine_urls, missing_driver

    for engine_url in engine_urls(url):
        try:
            engine_url.get_dialect().import_dbapi()
        except NoSuchModuleError:
            driver = engine_url.drivername
            raise ConfigurationError("store", f"SQLAlchemy knows no driver {driver!r}") from None
        except ImportError as exc:
            raise missing_driver(engine_url, exc) from None


def __getattr__(name: str) -> Any:
    target = _CLASSES.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _store_class(target)
