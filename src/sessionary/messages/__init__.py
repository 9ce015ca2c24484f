"""Flash messages, as ``django.contrib.messages`` has them.

``messages.success(request, "Saved.")`` in one request, then iterate
``get_messages(request)`` in the next (after the redirect): each message has
``level``, ``message``, ``tags``, ``level_tag`` and ``extra_tags``, and shows
once. Not iterating keeps the messages for later.

``target`` is a :class:`~sessionary.Session` (or any session mapping), or a
request that carries one: Starlette's and FastAPI's ``request`` (its
``.session``), a Flask request (``flask.session``), a Django request. By
default messages wait in the session and no extra middleware is needed; the
cookie and fallback storages need :class:`MessagesMiddleware`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from .constants import DEBUG, DEFAULT_LEVEL, DEFAULT_TAGS, ERROR, INFO, SUCCESS, WARNING
from .middleware import STORAGE_KEY, MessagesMiddleware, WSGIMessagesMiddleware
from .storage import (
    BaseStorage,
    CookieSettings,
    CookieStorage,
    FallbackStorage,
    Message,
    SessionStorage,
)

__all__ = [
    "DEBUG",
    "DEFAULT_LEVEL",
    "DEFAULT_TAGS",
    "ERROR",
    "INFO",
    "SUCCESS",
    "WARNING",
    "BaseStorage",
    "CookieSettings",
    "CookieStorage",
    "FallbackStorage",
    "Message",
    "MessagesMiddleware",
    "SessionStorage",
    "WSGIMessagesMiddleware",
    "add",
    "debug",
    "error",
    "get_level",
    "get_messages",
    "info",
    "set_level",
    "success",
    "warning",
]


def _holder(target: Any) -> MutableMapping[str, Any] | None:
    """The per-request dict (ASGI scope, WSGI environ) where the storage is kept."""
    for name in ("scope", "environ"):
        holder = getattr(target, name, None)
        if isinstance(holder, MutableMapping):
            return holder
    return None


def _session_of(target: Any, holder: MutableMapping[str, Any] | None) -> Any:
    session = getattr(target, "session", None)
    if session is not None:
        return session
    if holder is not None:
        session = holder.get("sessionary.session")
        if session is not None:
            return session
        if hasattr(target, "blueprints"):
            # A Flask request: its session is the context-bound flask.session.
            from flask import session as proxy

            return proxy._get_current_object()  # type: ignore[attr-defined]
    if isinstance(target, MutableMapping) or hasattr(target, "cycle_key"):
        return target
    raise TypeError(
        f"messages need a session or a request carrying one, not {type(target).__name__}"
    )


def storage_for(target: Any) -> BaseStorage:
    """The message storage of ``target``, made (session storage) on first use in a request."""
    if isinstance(target, BaseStorage):
        return target
    holder = _holder(target)
    if holder is not None:
        storage = holder.get(STORAGE_KEY)
        if isinstance(storage, BaseStorage):
            return storage
        storage = SessionStorage(_session_of(target, holder))
        holder[STORAGE_KEY] = storage
        return storage
    # A bare session: its data is the whole state, so a fresh storage is exact.
    return SessionStorage(_session_of(target, None))


def add(target: Any, level: int, message: str, extra_tags: str = "") -> bool:
    """Add a message at ``level``; ``False`` when it is below the minimum level."""
    return storage_for(target).add(level, message, extra_tags)


def get_messages(target: Any) -> BaseStorage:
    """The pending messages: iterate to show (and consume) them."""
    return storage_for(target)


def get_level(target: Any) -> int:
    """The minimum level a message needs to be recorded."""
    return storage_for(target).level


def set_level(target: Any, level: int | None) -> bool:
    """Set this request's minimum level (``None``: back to the configured one).

    Returns ``False``, as Django does, when ``target`` has no request to keep
    the setting in (a bare session).
    """
    if _holder(target) is None and not isinstance(target, BaseStorage):
        return False
    storage = storage_for(target)
    storage.level = storage.default_level if level is None else level
    return True


def debug(target: Any, message: str, extra_tags: str = "") -> bool:
    return add(target, DEBUG, message, extra_tags)


def info(target: Any, message: str, extra_tags: str = "") -> bool:
    return add(target, INFO, message, extra_tags)


def success(target: Any, message: str, extra_tags: str = "") -> bool:
    return add(target, SUCCESS, message, extra_tags)


def warning(target: Any, message: str, extra_tags: str = "") -> bool:
    return add(target, WARNING, message, extra_tags)


def error(target: Any, message: str, extra_tags: str = "") -> bool:
    return add(target, ERROR, message, extra_tags)
