"""Cookie helpers: an RFC 6265 ``Cookie`` parser that never raises,
``Set-Cookie`` builders with every attribute and the ``__Host-``/``__Secure-``
prefix rules, Django-compatible signed cookies, and duck-typed helpers that
write to Starlette or Flask responses and to raw ASGI/WSGI header lists
(no framework is imported).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from email.utils import formatdate
from typing import Any

from .exceptions import BadSignature
from .signing import TimestampSigner

__all__ = [
    "delete_cookie",
    "format_delete_cookie",
    "format_set_cookie",
    "get_signed_cookie",
    "parse_cookie",
    "request_cookies",
    "set_cookie",
    "set_signed_cookie",
]

_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# RFC 6265 cookie-octet, optionally in double quotes.
_VALUE_RE = re.compile(
    r'(?:[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*|"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")\Z'
)
_ATTR_RE = re.compile(r"[\x20-\x3a\x3c-\x7e]*\Z")  # no ';' and no control characters
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_PRIORITY = {"low": "Low", "medium": "Medium", "high": "High"}
_MISSING: Any = object()


def _decode(part: str | bytes) -> str:
    if isinstance(part, str):
        return part
    try:
        return part.decode("utf-8")
    except UnicodeDecodeError:
        return part.decode("latin-1")


def parse_cookie(header: str | bytes | Iterable[str | bytes] | None) -> dict[str, str]:
    """Parse one or several ``Cookie`` header values into ``{name: value}``.

    Several headers (HTTP/2 may split them) are read in order. Browsers send
    the most specific cookie first, so the first of duplicate names wins.
    Quoted values are unquoted; empty, nameless and attribute-only pairs are
    skipped; bytes are read as UTF-8 (latin-1 when not). This never raises.
    """
    if header is None:
        return {}
    parts: Iterable[Any] = (header,) if isinstance(header, str | bytes) else header
    cookies: dict[str, str] = {}
    try:
        for part in parts:
            if not isinstance(part, str | bytes):
                continue
            for chunk in _decode(part).split(";"):
                name, sep, value = chunk.partition("=")
                if not sep:
                    continue  # attribute-only or empty pair
                name = name.strip(" \t")
                if not name or name in cookies:
                    continue
                value = value.strip(" \t")
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                cookies[name] = value
    except TypeError:  # a non-iterable header value: no cookies
        return cookies
    return cookies


def _http_date(when: float | dt.datetime) -> str:
    ts = when.timestamp() if isinstance(when, dt.datetime) else when
    return formatdate(ts, usegmt=True)


def format_set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    expires: float | dt.datetime | str | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = None,
    partitioned: bool = False,
    priority: str | None = None,
) -> str:
    """Return a ``Set-Cookie`` header value.

    ``expires`` takes epoch seconds, a datetime or a preformatted HTTP date.
    Raises ``ValueError`` for a name or value a browser would mangle, an
    unknown ``samesite``/``priority``, and cookies that break the
    ``__Secure-``/``__Host-`` prefix rules or ``SameSite=None``/``Partitioned``
    without ``secure``.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid cookie name")
    if not _VALUE_RE.match(value):
        raise ValueError(f"cookie {name}: value has characters not allowed in a cookie")
    if name.startswith("__Secure-") and not secure:
        raise ValueError(f"cookie {name}: a __Secure- cookie needs secure=True")
    if name.startswith("__Host-") and (not secure or domain or path != "/"):
        raise ValueError(f"cookie {name}: a __Host- cookie needs secure=True, path='/', no domain")
    for attr, text in (("path", path), ("domain", domain)):
        if text is not None and not _ATTR_RE.match(text):
            raise ValueError(f"cookie {name}: {attr} has characters not allowed in a cookie")
    parts = [f"{name}={value}"]
    if expires is not None:
        parts.append(f"expires={expires if isinstance(expires, str) else _http_date(expires)}")
    if max_age is not None:
        parts.append(f"Max-Age={max(0, int(max_age))}")
    if domain:
        parts.append(f"Domain={domain}")
    if path:
        parts.append(f"Path={path}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite:
        normal = _SAMESITE.get(samesite.lower())
        if normal is None:
            raise ValueError(f"cookie {name}: samesite {samesite!r} is not Lax, Strict or None")
        if normal == "None" and not secure:
            raise ValueError(f"cookie {name}: SameSite=None needs secure=True")
        parts.append(f"SameSite={normal}")
    if partitioned:
        if not secure:
            raise ValueError(f"cookie {name}: a Partitioned cookie needs secure=True")
        parts.append("Partitioned")
    if priority is not None:
        level = _PRIORITY.get(priority.lower())
        if level is None:
            raise ValueError(f"cookie {name}: priority {priority!r} is not Low, Medium or High")
        parts.append(f"Priority={level}")
    return "; ".join(parts)


def format_delete_cookie(
    name: str,
    *,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = None,
    partitioned: bool = False,
    priority: str | None = None,
) -> str:
    """Return a ``Set-Cookie`` value that makes the browser drop ``name`` now.

    ``path``, ``domain`` (and ``partitioned``) must match the cookie's, or the
    browser keeps it.
    """
    return format_set_cookie(
        name,
        '""',
        max_age=0,
        expires="Thu, 01 Jan 1970 00:00:00 GMT",
        path=path,
        domain=domain,
        secure=secure,
        httponly=httponly,
        samesite=samesite,
        partitioned=partitioned,
        priority=priority,
    )


# -- writing to responses --------------------------------------------------------


def _append_header(target: Any, value: str, as_bytes: bool | None) -> None:
    """Append a ``Set-Cookie`` header to a response object or a raw header list."""
    if isinstance(target, list):
        if as_bytes is None:
            as_bytes = bool(target) and isinstance(target[0][0], bytes)
        if as_bytes:
            target.append((b"set-cookie", value.encode("latin-1")))
        else:
            target.append(("Set-Cookie", value))
        return
    headers = getattr(target, "headers", None)
    if headers is None:
        raise TypeError(f"cannot set a cookie on {type(target).__name__}: no headers")
    # Flask/Werkzeug Headers have add(); Starlette MutableHeaders have append().
    add = getattr(headers, "add", None) or getattr(headers, "append", None)
    if add is None:
        raise TypeError(f"cannot append a header to {type(headers).__name__}")
    add("set-cookie", value)
    # Starlette caches raw headers on the response object; MutableHeaders
    # edits them in place, so nothing more is needed.


def set_cookie(
    target: Any,
    name: str,
    value: str,
    *,
    as_bytes: bool | None = None,
    **attributes: Any,
) -> None:
    """Add a ``Set-Cookie`` header to ``target``.

    ``target`` is a Starlette or Flask response (anything with ``headers``
    offering ``append`` or ``add``), or a raw header list: ASGI's
    ``[(bytes, bytes)]`` or WSGI's ``[(str, str)]``. An empty list gets
    ``str`` pairs unless ``as_bytes=True``. ``attributes`` are those of
    :func:`format_set_cookie`.
    """
    _append_header(target, format_set_cookie(name, value, **attributes), as_bytes)


def delete_cookie(
    target: Any, name: str, *, as_bytes: bool | None = None, **attributes: Any
) -> None:
    """Add a ``Set-Cookie`` header to ``target`` that deletes ``name``."""
    _append_header(target, format_delete_cookie(name, **attributes), as_bytes)


def request_cookies(source: Any) -> dict[str, str]:
    """The cookies of ``source``, parsed without raising.

    ``source`` is a request with ``.cookies`` (Starlette, Flask), an ASGI
    scope, a WSGI environ, a ``Cookie`` header value, or a mapping of cookies.
    """
    if isinstance(source, str | bytes):
        return parse_cookie(source)
    if isinstance(source, Mapping):
        if "headers" in source and "type" in source:  # ASGI scope
            return parse_cookie(v for k, v in source["headers"] if k == b"cookie")
        if "wsgi.version" in source or "HTTP_COOKIE" in source:
            return parse_cookie(source.get("HTTP_COOKIE"))
        return {str(k): str(v) for k, v in source.items()}
    cookies = getattr(source, "cookies", None)
    if isinstance(cookies, Mapping):
        return {str(k): str(v) for k, v in cookies.items()}
    raise TypeError(f"cannot read cookies from {type(source).__name__}")


def _cookie_signer(
    name: str, salt: str, secret_key: str, fallbacks: Sequence[str]
) -> TimestampSigner:
    # Django's get_cookie_signer(salt=key + salt) under its default salt prefix.
    return TimestampSigner([secret_key, *fallbacks], name + salt)


def set_signed_cookie(
    target: Any,
    name: str,
    value: str,
    *,
    secret_key: str,
    salt: str = "",
    as_bytes: bool | None = None,
    **attributes: Any,
) -> None:
    """Set ``name`` to ``value`` signed with ``secret_key``, as Django's ``set_signed_cookie``.

    The visitor can read the value but not change it. Django, given the same
    secret and salt, reads it with ``request.get_signed_cookie``.
    """
    signed = _cookie_signer(name, salt, secret_key, ()).sign(value)
    # Django's signed values may hold characters a cookie cannot: quote them.
    if not _VALUE_RE.match(signed):
        raise ValueError(f"cookie {name}: value has characters not allowed in a cookie")
    set_cookie(target, name, signed, as_bytes=as_bytes, **attributes)


def get_signed_cookie(
    source: Any,
    name: str,
    default: Any = _MISSING,
    *,
    secret_key: str,
    fallback_keys: Sequence[str] = (),
    salt: str = "",
    max_age: float | dt.timedelta | None = None,
) -> Any:
    """Return the verified value of the signed cookie ``name`` in ``source``.

    ``source`` is anything :func:`request_cookies` reads. A missing, tampered
    or older-than-``max_age`` cookie returns ``default`` when given, and
    otherwise raises ``KeyError`` (missing) or
    :class:`~sessionary.exceptions.BadSignature` /
    :class:`~sessionary.exceptions.SignatureExpired`, as Django does.
    ``fallback_keys`` are older secrets still accepted.
    """
    try:
        signed = request_cookies(source)[name]
    except KeyError:
        if default is _MISSING:
            raise
        return default
    if isinstance(max_age, dt.timedelta):
        max_age = max_age.total_seconds()
    try:
        return _cookie_signer(name, salt, secret_key, fallback_keys).unsign(signed, max_age)
    except BadSignature:
        if default is _MISSING:
            raise
        return default
