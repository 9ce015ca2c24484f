"""HMAC signing with key rotation, in Django's ``django.core.signing`` format.

A value signed here verifies in Django with the same secret and salt (and
the other way round): ``value:timestamp:signature``, the timestamp base62,
the signature urlsafe base64 of HMAC-SHA256 under ``sha256(salt + "signer" +
secret)``. Signing uses the newest key; verifying tries every key, each
comparison in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from .exceptions import BadSignature, SignatureExpired

__all__ = ["TimestampSigner", "b64_decode", "b64_encode", "dumps", "loads"]

_SEP = ":"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b64_encode(data: bytes) -> str:
    """Urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_decode(text: str) -> bytes:
    """Inverse of :func:`b64_encode`; raises ``ValueError`` on bad input."""
    raw = text.encode("ascii")  # UnicodeEncodeError is a ValueError
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


def _b62_encode(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _B62[rest] + digits
        if number == 0:
            return digits


def _b62_decode(text: str) -> int:
    number = 0
    for char in text:
        index = _B62.find(char)
        if index < 0:
            raise ValueError("not base62")
        number = number * 62 + index
    return number


class TimestampSigner:
    """Sign strings with a timestamp; verify them against every key, newest first.

    ``keys`` are the current secret followed by older ones still accepted.
    ``clock`` returns epoch seconds (tests inject a fake one).
    """

    def __init__(
        self,
        keys: Sequence[str],
        salt: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("TimestampSigner needs at least one key")
        prefix = (salt + "signer").encode()
        self._macs = [hashlib.sha256(prefix + key.encode()).digest() for key in keys]
        self.clock = clock

    def _signature(self, mac_key: bytes, value: str) -> str:
        data = value.encode("utf-8", "surrogateescape")
        return b64_encode(hmac.new(mac_key, data, hashlib.sha256).digest())

    def sign(self, value: str) -> str:
        """Return ``value:timestamp:signature`` under the newest key."""
        value = f"{value}{_SEP}{_b62_encode(int(self.clock()))}"
        return f"{value}{_SEP}{self._signature(self._macs[0], value)}"

    def unsign_with_index(self, signed: str, max_age: float | None = None) -> tuple[str, int, int]:
        """Return ``(value, timestamp, key_index)``; ``key_index > 0`` means an old key.

        Raises :class:`BadSignature`, or :class:`SignatureExpired` past ``max_age``.
        """
        value, sep, signature = signed.rpartition(_SEP)
        if not sep:
            raise BadSignature("no separator in signed value", signed)
        # Every key is tried, so timing does not tell which one matched.
        matched = -1
        given = signature.encode("utf-8", "surrogateescape")  # bytes: any client text compares
        for index, mac_key in enumerate(self._macs):
            expected = self._signature(mac_key, value).encode("ascii")
            if hmac.compare_digest(given, expected) and matched < 0:
                matched = index
        if matched < 0:
            raise BadSignature("signature does not match", signed)
        body, sep, stamp = value.rpartition(_SEP)
        try:
            timestamp = _b62_decode(stamp)
        except ValueError:
            raise BadSignature("bad timestamp", signed) from None
        if not sep:
            raise BadSignature("no timestamp in signed value", signed)
        if max_age is not None:
            age = self.clock() - timestamp
            if age > max_age:
                raise SignatureExpired(f"signature age {age} > {max_age} seconds", signed, age)
        return body, timestamp, matched

    def unsign(self, signed: str, max_age: float | None = None) -> str:
        """Return the value ``signed`` carries, verified (and younger than ``max_age``)."""
        return self.unsign_with_index(signed, max_age)[0]


def dumps(signer: TimestampSigner, obj: Any, *, compress: bool = False) -> str:
    """Sign ``obj`` as compact JSON (zlib-compressed when that is shorter), as Django does."""
    data = json.dumps(obj, separators=(",", ":")).encode("latin-1")
    return dumps_json(signer, data, compress=compress)


def dumps_json(signer: TimestampSigner, data: bytes, *, compress: bool = False) -> str:
    """Sign JSON ``data`` (already encoded) in Django's ``signing.dumps`` format."""
    prefix = ""
    if compress:
        compressed = zlib.compress(data)
        if len(compressed) < len(data) - 1:
            data, prefix = compressed, "."
    return signer.sign(prefix + b64_encode(data))


def loads_json(
    signer: TimestampSigner, signed: str, max_age: float | None = None
) -> tuple[bytes, int, int]:
    """Verify ``signed`` and return its JSON bytes, timestamp and key index."""
    body, timestamp, index = signer.unsign_with_index(signed, max_age)
    try:
        if body.startswith("."):
            data = zlib.decompressobj().decompress(b64_decode(body[1:]), 1 << 20)
        else:
            data = b64_decode(body)
    except (ValueError, zlib.error):
        raise BadSignature("signed value does not decode", signed) from None
    return data, timestamp, index


def loads(signer: TimestampSigner, signed: str, max_age: float | None = None) -> Any:
    """Inverse of :func:`dumps`."""
    data = loads_json(signer, signed, max_age)[0]
    try:
        return json.loads(data)
    except ValueError:
        raise BadSignature("signed value is not JSON", signed) from None
