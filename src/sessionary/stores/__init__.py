"""Session stores, and :func:`from_url` that builds any of them from a URL.

Store modules are imported only when a URL names them, so a driver that is
not installed costs nothing until it is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    store: Store = _store_class(target).from_url(url, **options)
    return store


def __getattr__(name: str) -> Any:
    target = _CLASSES.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _store_class(target)
