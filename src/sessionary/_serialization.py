"""JSON encoding of session values, with a few extra types that round-trip.

``datetime``, ``date``, ``Decimal`` and ``UUID`` are written as small tagged
objects and come back as themselves. Everything else must be plain JSON.
There is no pickle, and there never will be.

The text is pure ASCII (``ensure_ascii``): every character outside it is a
``\\uXXXX`` escape. So the text's length is its size in bytes on any wire,
and a size limit counted in characters (``max_session_bytes``, a store's
``max_data_bytes``) is a limit in bytes; and a string no codec can encode
(a lone surrogate such as ``json.loads('"\\ud800"')``) is stored as its
escape and comes back as itself, instead of failing at save. Measured on
CPython 3.11: as fast as UTF-8 output plus its ``.encode()`` (1.4-6.5 µs a
value either way); 1.7-3x larger for non-Latin text (Cyrillic, CJK, emoji),
the same once compressed.

Decoding is where a session spends its codec time (every value read is
decoded; values written are encoded once). With the ``speedups`` extra
installed, plain JSON is decoded by msgspec (3-8x faster than ``json`` on
session-sized values); text the fast decoder refuses (a lone surrogate
escape, ``NaN``, a number beyond a double) and text holding a tagged value
go to the standard library, so every text decodes to the same value either
way. Encoding stays on the standard library: msgspec and orjson both encode
types natively that ``json`` refuses or that we tag (``UUID``, enums, sets,
bytes, dataclasses) and spell floats differently (``1e16`` for ``1e+16``),
so identical stored text would need a walk over the value in Python first,
which costs what the faster encoder saves.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from _json import encode_basestring_ascii, make_encoder
from collections.abc import Callable
from decimal import Decimal
from typing import Any

_fast_decode: Callable[[str | bytes], Any] | None
_fast_encode: Callable[[Any], bytes] | None
try:
    from msgspec import MsgspecError as _FastError
    from msgspec.json import Decoder as _FastDecoder
    from msgspec.json import Encoder as _FastEncoder
except ImportError:  # the speedups extra is not installed: the standard library serves
    _fast_decode = _fast_encode = None
else:
    _fast_decode = _FastDecoder().decode
    _fast_encode = _FastEncoder().encode

__all__ = ["decode", "decode_plain", "encode", "encode_plain"]

_TAG = "__sessionary__"


def _default(value: object) -> object:
    # datetime before date: datetime is a subclass of date.
    if isinstance(value, dt.datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {_TAG: "uuid", "v": str(value)}
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


_DECODERS: dict[str, Callable[[str], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "decimal": Decimal,
    "uuid": uuid.UUID,
}


def _object_hook(obj: dict[str, Any]) -> Any:
    tag = obj.get(_TAG)
    if tag is not None and len(obj) == 2 and "v" in obj:
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            return decoder(obj["v"])
    return obj


_decoder = json.JSONDecoder(object_hook=_object_hook)
_stdlib_decode = _decoder.decode


def encode(value: Any) -> str:
    """Encode one value as compact JSON text.

    Raises ``TypeError`` for values JSON cannot hold (including NaN and
    infinities, and dicts with non-string keys), ``ValueError`` for cycles.
    """
    cls = value.__class__
    if cls is str:
        return encode_basestring_ascii(value)
    if cls is float and not math.isfinite(value):
        raise TypeError("NaN and infinities are not valid JSON")
    # What json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    # does, without its two Python layers: a fresh marker dict per call keeps
    # cycle detection exact and thread-safe.
    encoder = make_encoder(
        {}, _default, encode_basestring_ascii, None, ":", ",", False, False, False
    )
    try:
        return "".join(encoder(value, 0))
    except ValueError as exc:  # circular reference, or a nested NaN
        raise TypeError(str(exc)) from exc


def decode_stdlib(text: str | bytes) -> Any:
    """Decode text written by :func:`encode` with the standard library alone."""
    return _stdlib_decode(text if isinstance(text, str) else text.decode("utf-8"))


def encode_plain(value: Any) -> bytes:
    """UTF-8 JSON of the library's own plain fields (strings, numbers, lists and
    dicts of them), for a reader that decodes it with :func:`decode_plain`.

    Not for session values, whose stored text must not depend on what is
    installed: here the fast encoder writes when installed (it spells floats
    its own way, and non-ASCII as UTF-8), the standard library otherwise and
    for what the fast one refuses (a lone surrogate); both decode to the same value.
    """
    if _fast_encode is not None:
        try:
            return _fast_encode(value)
        except UnicodeEncodeError:
            pass
    return encode(value).encode("ascii")


def decode_plain(text: str | bytes) -> Any:
    """Decode JSON text (str, or UTF-8 bytes) as plain JSON (no tagged values):
    the fast decoder when installed, the standard library for what it refuses,
    the same value either way. Raises ``ValueError`` for text that is not JSON."""
    if _fast_decode is not None:
        try:
            return _fast_decode(text)
        except _FastError:
            pass
    return _plain_decode(text if isinstance(text, str) else text.decode("utf-8"))


_plain_decode = json.JSONDecoder().decode


def decode(text: str | bytes) -> Any:
    """Decode text written by :func:`encode`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if _fast_decode is not None and _TAG not in text:
        try:
            return _fast_decode(text)
        except _FastError:
            pass  # the standard library decides: the same value, or its ValueError
    return _stdlib_decode(text)
