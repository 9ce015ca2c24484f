"""Cookie helpers: an RFC 6265 ``Cookie`` parser that never raises, and
``Set-Cookie`` builders with every attribute."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from email.utils import formatdate
from typing import Any

from .exceptions import BadSignature
from .signing import TimestampSigner

__all__ = [
    "MAX_COOKIE_BYTES",
    "check_cookie",
    "chunk_names",
    "chunks_capacity",
    "chunks_needed",
    "delete_cookie",
    "format_delete_cookie",
    "format_set_cookie",
    "get_signed_cookie",
    "join_chunks",
    "parse_cookie",
    "set_cookie",
    "set_signed_cookie",
    "split_into_chunks",
]

MAX_COOKIE_BYTES = 4096
"""What every browser keeps of one cookie: its name, ``=`` and its value."""

# The first chunk of a split value says how many there are ("3~..."): a
# missing, stale or extra chunk is then noticed rather than glued on.
_COUNT_SEP = "~"
_MAX_CHUNKS = 64

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_RAISE: Any = object()


def parse_cookie(header: str | bytes | Iterable[str | bytes] | None) -> dict[str, str]:
    """Parse one or several ``Cookie`` header values into ``{name: value}``.

    Browsers send the most specific cookie first, so the first of duplicate
    names wins. Malformed pairs are skipped; this never raises.
    """
    if header is None:
        return {}
    parts: Iterable[str | bytes] = (header,) if isinstance(header, (str, bytes)) else header
    cookies: dict[str, str] = {}
    for part in parts:
        text = part.decode("latin-1") if isinstance(part, bytes) else part
        # One cookie (an API client's session alone) needs no split: a long
        # sealed value would be scanned a character at a time.
        for chunk in text.split(";") if ";" in text else (text,):
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
    partitioned: bool = False,
    priority: str | None = None,
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
    if partitioned:
        parts.append("Partitioned")
    if priority:
        parts.append(f"Priority={_PRIORITIES.get(priority.lower(), priority)}")
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
        partitioned=partitioned,
        priority=priority,
    )


_PRIORITIES = {"low": "Low", "medium": "Medium", "high": "High"}


def check_cookie(
    name: str,
    *,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    samesite: str | None = None,
    partitioned: bool = False,
    priority: str | None = None,
) -> None:
    """Raise ``ValueError`` for attributes browsers would refuse.

    ``__Host-`` cookies need Secure, Path=/ and no Domain; ``__Secure-``
    cookies need Secure; SameSite=None and Partitioned need Secure.
    """
    if not name or not _TOKEN_RE.match(name):
        raise ValueError(f"{name!r} is not a valid cookie name")
    if name.startswith("__Host-") and (not secure or domain or path != "/"):
        raise ValueError(f"{name}: a __Host- cookie needs secure=True, path='/' and no domain")
    if name.startswith("__Secure-") and not secure:
        raise ValueError(f"{name}: a __Secure- cookie needs secure=True")
    if samesite is not None and samesite.lower() not in ("lax", "strict", "none"):
        raise ValueError(f"samesite={samesite!r} is not Lax, Strict or None")
    if samesite is not None and samesite.lower() == "none" and not secure:
        raise ValueError("SameSite=None needs secure=True")
    if partitioned and not secure:
        raise ValueError("a Partitioned cookie needs secure=True")
    if priority is not None and priority.lower() not in _PRIORITIES:
        raise ValueError(f"priority={priority!r} is not Low, Medium or High")


def set_cookie(target: Any, name: str, value: str, **attributes: Any) -> str:
    """Add a ``Set-Cookie`` header to ``target`` and return its value.

    ``target`` is a Starlette or Flask response, or a raw ASGI
    (``list[tuple[bytes, bytes]]``) or WSGI (``list[tuple[str, str]]``)
    header list. ``attributes`` are those of :func:`format_set_cookie`,
    checked first by :func:`check_cookie`.
    """
    check_cookie(
        name,
        **{
            k: attributes[k]
            for k in ("path", "domain", "secure", "samesite", "partitioned", "priority")
            if k in attributes
        },
    )
    header = format_set_cookie(name, value, **attributes)
    _append_header(target, header)
    return header


def delete_cookie(target: Any, name: str, **attributes: Any) -> str:
    """Add a ``Set-Cookie`` header to ``target`` that deletes ``name``."""
    header = format_delete_cookie(name, **attributes)
    _append_header(target, header)
    return header


def set_signed_cookie(
    target: Any,
    name: str,
    value: str,
    *,
    secret: str | Sequence[str],
    salt: str = "",
    **attributes: Any,
) -> str:
    """Set a cookie whose value is signed (and timestamped), as Django's ``set_signed_cookie``.

    The salt defaults to the cookie name's purpose: ``name + salt``.
    """
    signer = TimestampSigner(_secrets(secret), salt=f"cookie:{name}{salt}")
    return set_cookie(target, name, signer.sign(value), **attributes)


def get_signed_cookie(
    source: Any,
    name: str,
    *,
    secret: str | Sequence[str],
    salt: str = "",
    max_age: float | None = None,
    default: Any = _RAISE,
) -> Any:
    """Read and verify a signed cookie, as Django's ``request.get_signed_cookie``.

    ``source`` is a ``{name: value}`` mapping, a Cookie header string, or a
    request with ``.cookies``. Raises ``KeyError``, ``BadSignature`` or
    ``SignatureExpired`` unless ``default`` is given.
    """
    cookies = _cookies_of(source)
    try:
        signed = cookies[name]
        signer = TimestampSigner(_secrets(secret), salt=f"cookie:{name}{salt}")
        return signer.unsign(signed, max_age=max_age)
    except (KeyError, BadSignature):
        if default is _RAISE:
            raise
        return default


def _secrets(secret: str | Sequence[str]) -> list[str]:
    return [secret] if isinstance(secret, str) else list(secret)


def _cookies_of(source: Any) -> Mapping[str, str]:
    if isinstance(source, str | bytes):
        return parse_cookie(source)
    if isinstance(source, Mapping):
        return source
    cookies = getattr(source, "cookies", None)
    if isinstance(cookies, Mapping):
        return cookies
    raise TypeError(f"cannot read cookies from {type(source).__name__}")


def _append_header(target: Any, header: str) -> None:
    if isinstance(target, list):
        if target and isinstance(target[0][0], bytes):
            target.append((b"set-cookie", header.encode("latin-1")))
        else:
            target.append(("Set-Cookie", header))
        return
    headers = getattr(target, "headers", None)
    if hasattr(target, "raw_headers"):  # Starlette: MutableHeaders.append keeps duplicates
        target.headers.append("set-cookie", header)
    elif headers is not None and hasattr(headers, "add"):  # Werkzeug/Flask
        headers.add("Set-Cookie", header)
    else:
        raise TypeError(f"cannot add a header to {type(target).__name__}")


# -- values too long for one cookie ---------------------------------------------
# A value over MAX_COOKIE_BYTES goes out as ``name``, ``name.1``, ``name.2``, ...
# (as Auth.js and Litestar split theirs); the first carries the count.


def chunk_names(name: str, count: int) -> list[str]:
    """The cookie names of a value split into ``count`` chunks."""
    return [name, *(f"{name}.{index}" for index in range(1, count))]


def chunks_capacity(name: str, count: int, limit: int = MAX_COOKIE_BYTES) -> int:
    """The longest value (characters) that ``count`` cookies named after ``name`` hold."""
    room = sum(limit - len(chunk) - 1 for chunk in chunk_names(name, count))
    return room if count == 1 else room - len(f"{count}{_COUNT_SEP}")


def chunks_needed(name: str, length: int, limit: int = MAX_COOKIE_BYTES) -> int:
    """How many cookies a value of ``length`` characters needs (``ValueError`` past 64)."""
    count = 1
    while chunks_capacity(name, count, limit) < length:
        count += 1
        if count > _MAX_CHUNKS:
            raise ValueError(f"a value of {length} characters needs over {_MAX_CHUNKS} cookies")
    return count


def split_into_chunks(
    name: str, value: str, limit: int = MAX_COOKIE_BYTES
) -> list[tuple[str, str]]:
    """``(cookie name, value)`` pairs that carry ``value``, each within ``limit``."""
    if len(name) + 1 + len(value) <= limit:
        return [(name, value)]  # one cookie: the usual case, without the arithmetic
    count = chunks_needed(name, len(value), limit)
    pairs: list[tuple[str, str]] = []
    rest = value
    for index, chunk in enumerate(chunk_names(name, count)):
        prefix = f"{count}{_COUNT_SEP}" if index == 0 else ""
        room = limit - len(chunk) - 1 - len(prefix)
        pairs.append((chunk, prefix + rest[:room]))
        rest = rest[room:]
    return pairs


def _is_number(text: str) -> bool:
    # ASCII only: str.isdigit() also accepts "²", which int() refuses.
    return text.isascii() and text.isdigit()


def join_chunks(cookies: Mapping[str, str], name: str) -> tuple[str | None, list[str]]:
    """The value split over ``name``, ``name.1``, ... and the chunk cookies present.

    The value is ``None`` when no ``name`` cookie came, and ``""`` (which
    opens as nothing) when its chunks do not add up: a count that is not a
    number, or a chunk missing. The list names every ``name.N`` cookie the
    request carried, so a response can delete those no longer needed.
    """
    prefix = f"{name}."
    present = [
        cookie
        for cookie in cookies
        if cookie.startswith(prefix) and _is_number(cookie[len(prefix) :])
    ]
    first = cookies.get(name)
    if first is None:
        return None, present
    count_text, sep, head = first.partition(_COUNT_SEP)
    if not sep:
        return first, present
    if not (_is_number(count_text) and 2 <= int(count_text) <= _MAX_CHUNKS):
        return "", present
    parts = [head]
    for chunk in chunk_names(name, int(count_text))[1:]:
        part = cookies.get(chunk)
        if part is None:
            return "", present
        parts.append(part)
    return "".join(parts), present
