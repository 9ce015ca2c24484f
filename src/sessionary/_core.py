"""Sans-I/O decisions: what the client carried in -> session -> headers out.

The request lifecycle (``_lifecycle.py``) calls these; every rule about when a
cookie is set, re-sent or deleted lives here, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from ._keys import is_valid_key
from .cookies import MAX_COOKIE_BYTES, join_chunks, parse_cookie, split_into_chunks
from .events import emit

if TYPE_CHECKING:
    from ._config import SessionConfig
    from ._session import Session
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
    chunks: tuple[str, ...] = ()
    """The ``name.N`` cookies carrying the rest of a split value (client-side stores)."""


def read_request(
    config: SessionConfig,
    cookie_headers: Iterable[str | bytes],
    user_agent: str | None,
    ip: str | None,
    *,
    token: str | None = None,
    query_string: str = "",
    secure: bool = False,
) -> Incoming:
    """Find the session key the client sent, by the configured transport.

    ``token`` is the value of ``config.header_name``; ``query_string`` and
    ``secure`` (https) matter to the URL transport. Never raises on client input.
    """
    cookies = parse_cookie(cookie_headers)
    chunks: tuple[str, ...] = ()
    if config.store.client_side and config.transport == "cookie":
        # A sealed session too long for one cookie arrives split.
        value, present = join_chunks(cookies, config.cookie_name)
        chunks = tuple(present)
    else:
        value = cookies.get(config.cookie_name)
    transport = config.transport
    if transport == "header":
        value = token
    elif transport == "url":
        from_url = _query_value(query_string, config.url_param)
        if value is not None:
            if from_url is not None:
                security_logger.warning(
                    "request carries a session cookie and a URL key: using the cookie"
                )
        elif from_url is not None and not secure and not config.url_allow_insecure:
            security_logger.warning("ignored a session key in the URL of a plain-HTTP request")
        else:
            value = from_url
    client = {"ua": user_agent[:256] if user_agent else "", "ip": ip or ""}
    if value is None:
        # A session this request creates (a first sign-in) records its device for
        # the per-user index; the cookie store has no index, and no room to spare.
        return Incoming(None, bool(chunks), None if config.store.client_side else client, chunks)
    if config.store.client_side:
        return Incoming(value, True, client, chunks)
    if not is_valid_key(value):
        security_logger.info("ignored a malformed session key")
        if config.event_hooks:
            emit(config.event_hooks, "bad_cookie", config.store)
        return Incoming(None, True, client)
    return Incoming(value, True, client)


def _query_value(query_string: str, name: str) -> str | None:
    if not query_string or name not in query_string:
        return None
    for pair in query_string.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return unquote_plus(value)
    return None


def open_session(
    config: SessionConfig,
    incoming: Incoming,
    record: SessionRecord | None,
    session_class: type[Session] | None = None,
) -> Session:
    """The request's session: loaded from ``record``, or new (never adopting a dead key).

    ``session_class`` lets an integration use a subclass (Flask's adds ``permanent``).
    """
    if session_class is None:
        # Imported here only: _session imports the stores; the lifecycle always passes the class.
        from ._session import Session

        session_class = Session
    cls = session_class
    if (
        record is not None
        and (config.idle_timeout is not None or config.absolute_timeout is not None)
        and not _within_timeouts(config, record, config.now())
    ):
        record = None
    if record is None or incoming.key is None:
        return cls(config, None, client=incoming.client)
    store = config.store
    # The client carries the key, or (a client-side store) the sealed record
    # with the key inside.
    key = store.key_from(incoming.key, record)
    session = cls(config, key, record=record, client=incoming.client)
    if store.needs_reissue(record):
        session.require_save()
    return session


def _within_timeouts(config: SessionConfig, record: SessionRecord, now: float) -> bool:
    if config.idle_timeout is not None and now - record.last_seen > config.idle_timeout:
        return False
    return not (
        config.absolute_timeout is not None and now - record.created > config.absolute_timeout
    )


def response_headers(
    config: SessionConfig, session: Session, incoming: Incoming
) -> list[tuple[str, str]]:
    """The ``Set-Cookie`` and ``Vary`` headers for a committed session (Django's rules),
    and ``Clear-Site-Data`` when a logout asked for it."""
    if session.clears_site_data:
        return [*_headers(config, session, incoming), ("clear-site-data", '"cookies"')]
    return _headers(config, session, incoming)


def _headers(config: SessionConfig, session: Session, incoming: Incoming) -> list[tuple[str, str]]:
    if config.transport != "cookie":
        return _token_headers(config, session, incoming)
    headers: list[tuple[str, str]] = []
    if session.is_empty() and incoming.had_cookie:
        headers.append(("vary", "Cookie"))
        headers.append(("set-cookie", session_cookie(config, '""', 0, _EPOCH)))
        for chunk in incoming.chunks:
            headers.append(("set-cookie", session_cookie(config, '""', 0, _EPOCH, name=chunk)))
        return headers
    if session.accessed:
        headers.append(("vary", "Cookie"))
    saved = session.saved_cookie()
    if saved is not None:
        value, max_age, expires = saved
        name = config.cookie_name
        if not incoming.chunks and len(name) + len(value) < MAX_COOKIE_BYTES:
            # One cookie (a key, or a sealed session that fits), no chunk to delete.
            headers.append(("set-cookie", session_cookie(config, value, max_age, expires)))
            return headers
        # A sealed session may need several cookies; chunks the last value
        # used and this one does not are deleted, or they would linger.
        sent = set()
        for chunk_name, part in split_into_chunks(name, value):
            sent.add(chunk_name)
            headers.append(
                ("set-cookie", session_cookie(config, part, max_age, expires, name=chunk_name))
            )
        for chunk in incoming.chunks:
            if chunk not in sent:
                headers.append(("set-cookie", session_cookie(config, '""', 0, _EPOCH, name=chunk)))
    return headers


def _token_headers(
    config: SessionConfig, session: Session, incoming: Incoming
) -> list[tuple[str, str]]:
    """Header and URL transports: the key goes back in ``config.header_name``
    when it is created, cycled or deleted (deleted: an empty value)."""
    headers: list[tuple[str, str]] = []
    if config.transport == "url":
        headers.append(("referrer-policy", "no-referrer"))  # keep the key out of Referer
    else:
        if session.accessed:
            headers.append(("vary", config.header_name))
    if session.is_empty():
        if incoming.had_cookie:
            headers.append((config.header_name.lower(), ""))
    elif session.was_saved and session.session_key != incoming.key:
        headers.append((config.header_name.lower(), session.carried or session.session_key or ""))
    return headers


_EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def session_cookie(
    config: SessionConfig,
    value: str,
    max_age: int | None,
    expires: float | str | None,
    *,
    name: str | None = None,
) -> str:
    """The session's ``Set-Cookie`` value, spelled as Starlette spells it.

    Attribute names are case-insensitive (RFC 6265 section 5.2), but tests
    written for Starlette's ``SessionMiddleware`` match its spelling
    (``path=``, ``domain=``, ``partitioned``, ``Max-Age=`` followed by more
    attributes); a drop-in keeps it. ``name`` is a chunk's name when a
    sealed session is split over several cookies.
    """
    age = "" if max_age is None else f"; Max-Age={max_age}"
    if expires is None:
        until = ""
    else:
        until = f"; expires={expires if isinstance(expires, str) else _http_date(int(expires))}"
    attributes = _attributes(
        config.cookie_domain,
        config.cookie_secure,
        config.cookie_httponly,
        config.cookie_samesite,
        config.cookie_partitioned,
        config.cookie_priority,
    )
    # Built in one piece: a sealed value runs to 4 KB, copied once, not per attribute.
    name = name or config.cookie_name
    return f"{name}={value}; path={config.cookie_path}{age}{until}{attributes}"


@lru_cache(maxsize=64)
def _attributes(
    domain: str | None,
    secure: bool,
    httponly: bool,
    samesite: str | None,
    partitioned: bool,
    priority: str | None,
) -> str:
    """The attributes after ``expires``: the same for every cookie of a config."""
    parts = [""]
    if domain:
        parts.append(f"domain={domain}")
    if secure:
        parts.append("secure")
    if httponly:
        parts.append("httponly")
    if samesite:
        parts.append(f"samesite={samesite}")
    if partitioned:
        parts.append("partitioned")
    if priority:
        parts.append(f"priority={priority}")
    return "; ".join(parts) if len(parts) > 1 else ""


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    """``email.utils.formatdate(second, usegmt=True)``, without its datetime detour.

    Every response that carries the session formats one, and responses in the
    same second share it: hence the cache.
    """
    year, month, day, hour, minute, sec, weekday = time.gmtime(second)[:7]
    return (
        f"{_DAYS[weekday]}, {day:02d} {_MONTHS[month - 1]} {year:04d} "
        f"{hour:02d}:{minute:02d}:{sec:02d} GMT"
    )


def merge_vary(existing: str | None, field: str = "Cookie") -> str:
    """``existing`` Vary value with ``field`` added once."""
    if not existing:
        return field
    fields = [f.strip().lower() for f in existing.split(",")]
    if field.lower() in fields or "*" in fields:
        return existing
    return f"{existing}, {field}"
