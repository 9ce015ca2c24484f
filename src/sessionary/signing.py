"""Signing with key rotation: HMAC-SHA256, a salt per purpose, an optional timestamp.

Sign with the newest key; verify against every key (newest first) in
constant time. Errors carry the payload (``BadSignature.payload``) so the
caller can log what was refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

from .exceptions import BadSignature, SignatureExpired

__all__ = ["Signer", "TimestampSigner"]

_SEP = ":"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Signer:
    """Appends ``:signature`` to a string value.

    ``secrets`` lists the current key first, then fallbacks still accepted.
    ``salt`` separates purposes: a value signed for one salt never verifies
    under another.
    """

    def __init__(self, secrets: Sequence[str], *, salt: str = "") -> None:
        if not secrets or not all(secrets):
            raise ValueError("Signer needs at least one non-empty secret")
        self._keys = [
            hashlib.sha256(f"sessionary.signing{salt}{secret}".encode()).digest()
            for secret in secrets
        ]

    def _mac(self, key: bytes, value: str) -> str:
        return _b64(hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest())

    def sign(self, value: str) -> str:
        return f"{value}{_SEP}{self._mac(self._keys[0], value)}"

    def unsign(self, signed: str) -> str:
        value, sep, mac = signed.rpartition(_SEP)
        if not sep:
            raise BadSignature("no signature found", signed)
        for key in self._keys:
            if hmac.compare_digest(self._mac(key, value), mac):
                return value
        raise BadSignature("signature does not match", signed)


class TimestampSigner(Signer):
    """A :class:`Signer` that also signs when, so ``unsign`` can enforce a max age."""

    def sign(self, value: str, *, now: float | None = None) -> str:
        stamp = int(time.time() if now is None else now)
        return super().sign(f"{value}{_SEP}{stamp:x}")

    def unsign(self, signed: str, *, max_age: float | None = None, now: float | None = None) -> str:
        stamped = super().unsign(signed)
        value, sep, stamp_text = stamped.rpartition(_SEP)
        if not sep:
            raise BadSignature("no timestamp found", signed)
        try:
            stamp = int(stamp_text, 16)
        except ValueError:
            raise BadSignature("malformed timestamp", signed) from None
        if max_age is not None:
            age = (time.time() if now is None else now) - stamp
            if age > max_age:
                raise SignatureExpired(f"signature age {age:.0f}s > {max_age}s", signed, age)
        return value
