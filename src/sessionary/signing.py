"""The one signing primitive: key derivation, HMAC signing with rotation, constant time.

Every secret-keyed thing sessionary writes (signed cookies, the messages
cookie, the cookie store in both modes) takes its key from
:func:`derive_key`: HKDF-SHA256 (RFC 5869) over the configured secret, with
the *purpose* as HKDF ``info``. A key derived for one purpose is unrelated to
the key of any other, so a value signed for one purpose never verifies under
another, and the raw secret is never used as a key.

:class:`Signer` signs with the newest key and verifies against every key
(the newest, the fallbacks, then keys of the format that preceded this one)
without stopping at the first match: the time taken does not tell which key
matched. Errors carry the payload (``BadSignature.payload``) so the caller
can log what was refused.

Migration window: values signed before this derivation existed (sessionary
0.x formats) still verify, through ``legacy_keys``, and are re-signed with
the new key the next time they are written. See ``docs/security.md``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Sequence

from .exceptions import BadSignature, SignatureExpired

__all__ = ["Signer", "TimestampSigner", "derive_key", "matching_key"]

_HKDF_SALT = b"sessionary/v2"
_HASH_LEN = hashlib.sha256().digest_size


@functools.lru_cache(maxsize=256)
def derive_key(secret: str, purpose: str) -> bytes:
    """The 32-byte key for ``purpose`` derived from ``secret`` (HKDF-SHA256).

    Equal to ``cryptography``'s ``HKDF(SHA256(), 32, salt=b"sessionary/v2",
    info=purpose)``; written with :mod:`hmac` so signing needs no extra.
    Cached: deriving is two HMACs, but it would run on every request.
    """
    if not secret:
        raise ValueError("cannot derive a key from an empty secret")
    prk = hmac.new(_HKDF_SALT, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    # One expand block: T(1) = HMAC(PRK, info || 0x01) is exactly 32 bytes.
    return hmac.new(prk, purpose.encode("utf-8") + b"\x01", hashlib.sha256).digest()[:_HASH_LEN]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def matching_key(keys: Sequence[bytes], data: bytes, given: bytes) -> int:
    """The index of the key whose HMAC-SHA256 of ``data`` is ``given``, or -1.

    Every key is tried, whatever matched first, so the time taken does not
    tell which key (if any) matched.
    """
    found = -1
    for index, key in enumerate(keys):
        if hmac.compare_digest(_mac(key, data), given) and found < 0:
            found = index
    return found


class Signer:
    """Appends ``<sep>signature`` to a string value.

    ``secrets`` lists the current key first, then fallbacks still accepted.
    ``salt`` names the purpose: a value signed for one salt never verifies
    under another. ``legacy_keys`` are raw keys of an older format, accepted
    on read only (see the migration window in the module docstring); by
    default, the keys this class derived before :func:`derive_key`.
    """

    def __init__(
        self,
        secrets: Sequence[str],
        *,
        salt: str = "",
        sep: str = ":",
        legacy_keys: Sequence[bytes] | None = None,
    ) -> None:
        if not secrets or not all(secrets):
            raise ValueError("Signer needs at least one non-empty secret")
        if legacy_keys is None:
            # Values this class signed before the one derivation keep verifying.
            legacy_keys = [_legacy_signer_key(s, salt) for s in secrets]
        self._sep = sep
        self._keys = [derive_key(secret, f"sessionary.signing:{salt}") for secret in secrets]
        self._keys.extend(legacy_keys)
        self._current = len(secrets)

    def signature(self, value: str) -> str:
        """The base64url HMAC of ``value`` under the newest key."""
        return _b64(_mac(self._keys[0], value.encode("utf-8", "surrogateescape")))

    def sign(self, value: str) -> str:
        return f"{value}{self._sep}{self.signature(value)}"

    def verify(self, signed: str) -> tuple[str, int]:
        """The value inside ``signed`` and the index of the key that signed it.

        Index 0 is the newest key; anything higher (a fallback secret, or a
        legacy key: index >= the number of secrets) means the value should
        be re-signed. Raises :class:`BadSignature`.
        """
        value, sep, mac = signed.rpartition(self._sep)
        if not sep:
            raise BadSignature("no signature found", signed)
        try:
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
        except ValueError:
            raise BadSignature("malformed signature", signed) from None
        if _b64(given) != mac:
            # Only the canonical spelling: base64 ignores stray characters and
            # padding bits, and a changed value must never verify.
            raise BadSignature("malformed signature", signed)
        index = matching_key(self._keys, value.encode("utf-8", "surrogateescape"), given)
        if index < 0:
            raise BadSignature("signature does not match", signed)
        return value, index

    def unsign(self, signed: str) -> str:
        return self.verify(signed)[0]

    def is_legacy(self, index: int) -> bool:
        """Whether the key at ``index`` (from :meth:`verify`) is an old format's."""
        return index >= self._current


def _legacy_signer_key(secret: str, salt: str) -> bytes:
    """The key :class:`Signer` derived before :func:`derive_key` (read-only, migration)."""
    return hashlib.sha256(f"sessionary.signing{salt}{secret}".encode()).digest()


class TimestampSigner(Signer):
    """A :class:`Signer` that also signs when, so ``unsign`` can enforce a max age."""

    def sign(self, value: str, *, now: float | None = None) -> str:
        stamp = int(time.time() if now is None else now)
        return super().sign(f"{value}{self._sep}{stamp:x}")

    def unsign(self, signed: str, *, max_age: float | None = None, now: float | None = None) -> str:
        stamped = super().unsign(signed)
        value, sep, stamp_text = stamped.rpartition(self._sep)
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
