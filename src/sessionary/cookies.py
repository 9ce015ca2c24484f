"""Cookie helpers: an RFC 6265 ``Cookie`` parser that never raises, and
``Set-Cookie`` builders with every attribute."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from email.utils import formatdate

__all__ = ["format_delete_cookie", "format_set_cookie", "parse_cookie"]


def parse_cookie(header: str | bytes | Iterable[str | bytes] | None) -> dict[str, str]:
    """Parse one or several ``Cookie`` header values into ``{name: value}``.

    Browsers send the most specific cookie first, so the first of duplicate
    names wins. Malformed pairs are skipped; this never raises.
    """
    if header is None:
        return {}
    parts: Iterable[str | bytes] = (header,) if isinstance(header, str | bytes) else header
    cookies: dict[str, str] = {}
    for part in parts:
        text = part.decode("latin-1") if isinstance(part, bytes) else part
        for chunk in text.split(";"):
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
) -> str:
    """Return a ``Set-Cookie`` header value.

    ``expires`` takes epoch seconds, a datetime or a preformatted HTTP date.
    """
    parts = [f"{name}={value}"]
    if expires is not None:
        parts.append(f"expires={expires if isinstance(expires, str) else _http_date(expires)}")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if domain:
        parts.append(f"Domain={domain}")
    if path:
        parts.append(f"Path={path}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite:
        parts.append(f"SameSite={samesite}")
    return "; ".join(parts)


def format_delete_cookie(
    name: str,
    *,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = None,
) -> str:
    """Return a ``Set-Cookie`` value that makes the browser drop ``name`` now."""
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
    )
