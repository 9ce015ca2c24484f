"""The request lifecycle without I/O: key in -> session -> headers out.

Both middlewares (``asgi.py`` and ``wsgi.py``) are thin edges over these
functions; every rule about when a cookie is set, re-sent or deleted lives
here, once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._keys import is_valid_key
from .cookies import format_delete_cookie, format_set_cookie, parse_cookie
from .events import emit

if TYPE_CHECKING:
    from .config import SessionConfig
    from .session import Session
    from .stores.base import SessionRecord

__all__ = ["Incoming", "open_session", "read_request", "response_headers"]

logger = logging.getLogger("sessionary")
security_logger = logging.getLogger("sessionary.security")


@dataclass(slots=True)
class Incoming:
    """What the request carried: a well-formed key (or ``None``) and whether
    any session cookie came at all (a bad one must still be deleted)."""

    key: str | None
    had_cookie: bool
    client: dict[str, str] | None


def read_request(
    config: SessionConfig,
    cookie_headers: Iterable[str | bytes],
    user_agent: str | None,
    ip: str | None,
) -> Incoming:
    """Find the session key the client sent. Never raises on client input."""
    value = parse_cookie(cookie_headers).get(config.cookie_name)
    if value is None:
        return Incoming(None, False, None)
    client = {"ua": user_agent[:256] if user_agent else "", "ip": ip or ""}
    if config.store.client_side:
        return Incoming(value, True, client)
    if not is_valid_key(value):
        security_logger.info("ignored a malformed session cookie")
        if config.event_hooks:
            emit(config.event_hooks, "bad_cookie", config.store)
        return Incoming(None, True, client)
    return Incoming(value, True, client)


def open_session(
    config: SessionConfig,
    incoming: Incoming,
    record: SessionRecord | None,
    session_class: type[Session] | None = None,
) -> Session:
    """The request's session: loaded from ``record``, or new (never adopting a dead key).

    ``session_class`` lets an integration use a subclass (Flask's adds ``permanent``).
    """
    from .session import Session

    cls = session_class or Session
    now = config.store.clock()
    if record is not None and not _within_timeouts(config, record, now):
        record = None
    if record is None:
        return cls(config, None, client=incoming.client)
    if config.store.client_side:
        # The cookie holds the sealed record; the session's key travels inside it.
        session = cls(config, record.meta["sid"], record=record, client=incoming.client)
        if record.version == 0:
            session._modified = True  # opened with a fallback secret: re-seal now
        return session
    return cls(config, incoming.key, record=record, client=incoming.client)


def _within_timeouts(config: SessionConfig, record: SessionRecord, now: float) -> bool:
    if config.idle_timeout is not None and now - record.last_seen > config.idle_timeout:
        return False
    return not (
        config.absolute_timeout is not None and now - record.created > config.absolute_timeout
    )


def response_headers(
    config: SessionConfig, session: Session, incoming: Incoming
) -> list[tuple[str, str]]:
    """The ``Set-Cookie`` and ``Vary`` headers for a committed session (Django's rules)."""
    headers: list[tuple[str, str]] = []
    if session.is_empty() and incoming.had_cookie:
        headers.append(("vary", "Cookie"))
        headers.append(
            (
                "set-cookie",
                format_delete_cookie(config.cookie_name, **cookie_attributes(config)),
            )
        )
        return headers
    if session.accessed:
        headers.append(("vary", "Cookie"))
    if session._saved and session.session_key is not None:
        max_age = expires = None
        if not session.get_expire_at_browser_close():
            now = config.store.clock()
            record = session._record
            age = session._expiry_age(now) if record is None else record.expires - now
            max_age = max(0, round(age))
            expires = now + max_age
        headers.append(
            (
                "set-cookie",
                format_set_cookie(
                    config.cookie_name,
                    session._cookie if session._cookie is not None else session.session_key,
                    max_age=max_age,
                    expires=expires,
                    **cookie_attributes(config),
                ),
            )
        )
    return headers


def cookie_attributes(config: SessionConfig) -> dict[str, Any]:
    """The configured cookie attributes, as ``format_set_cookie`` takes them."""
    return {
        "path": config.cookie_path,
        "domain": config.cookie_domain,
        "secure": config.cookie_secure,
        "httponly": config.cookie_httponly,
        "samesite": config.cookie_samesite,
        "partitioned": config.cookie_partitioned,
        "priority": config.cookie_priority,
    }


def merge_vary(existing: str | None) -> str:
    """``existing`` Vary value with ``Cookie`` added once."""
    if not existing:
        return "Cookie"
    fields = [f.strip().lower() for f in existing.split(",")]
    if "cookie" in fields or "*" in fields:
        return existing
    return f"{existing}, Cookie"
