"""Claims: one winner among concurrent requests, on every server-side store.

Every server-side store has one operation that picks a single winner among
racers whatever the store: creating a record that must not exist yet (a
:class:`~sessionary._ops.Create`, ``save(..., must_create=True)``). A *claim*
is such a record, stored under a key derived from a secret the racing
requests share (a session key, a challenge) and a purpose label:

- the store keeps only hashes, so it cannot compute a claim's key, and a
  claim's key has the shape of a session key without ever being one that a
  visitor holds (HMAC output under a purpose label);
- the claim expires on its own, like any record (``ttl``);
- a claim may carry a value the winner wants the losers to find. A value
  that is itself a secret (the successor of a rotated key) is sealed first
  with :func:`seal`, so the store never holds it in clear.

Rotation (exactly one successor per session) and device-bound sessions
(single-use challenges) are built on claims, with no store operation beyond
the four every store already has.
"""

from __future__ import annotations

import hmac
import json

from ._keys import KEY_LENGTH, hash_key
from ._ops import Create, Delete, Load, Steps
from .exceptions import SessionKeyExists, StoreError
from .stores.base import SessionRecord

__all__ = ["claim", "claim_key", "read_claim", "release", "seal", "unseal"]

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_TAG = 16


def _mac(secret: str, label: str, data: bytes = b"", digest: str = "sha512") -> bytes:
    message = label.encode("utf-8") + b"\x00" + data
    return hmac.new(secret.encode("utf-8"), message, digest).digest()


def claim_key(secret: str, purpose: str) -> str:
    """The key of ``purpose``'s claim for ``secret``: a session key's shape, never a live one."""
    digest = _mac(secret, "sessionary/claim/" + purpose)
    return "".join(_ALPHABET[byte % len(_ALPHABET)] for byte in digest[:KEY_LENGTH])


def seal(secret: str, purpose: str, value: str) -> str:
    """``value`` (at most 64 bytes) encrypted and authenticated under ``secret``.

    A one-time pad from HMAC-SHA512 plus an HMAC tag: sound because each
    ``(secret, purpose)`` seals exactly one value (a claim is won once).
    """
    plain = value.encode("utf-8")
    if len(plain) > 64:
        raise ValueError("a sealed value holds at most 64 bytes")
    pad = _mac(secret, "sessionary/seal/" + purpose)
    cipher = bytes(a ^ b for a, b in zip(plain, pad, strict=False))
    tag = _mac(secret, "sessionary/tag/" + purpose, cipher, "sha256")[:_TAG]
    return (cipher + tag).hex()


def unseal(secret: str, purpose: str, sealed: str) -> str | None:
    """The value :func:`seal` sealed, or ``None`` if ``sealed`` is not one of ours."""
    try:
        raw = bytes.fromhex(sealed)
    except ValueError:
        return None
    cipher, tag = raw[:-_TAG], raw[-_TAG:]
    if len(raw) <= _TAG or len(cipher) > 64:
        return None
    expected = _mac(secret, "sessionary/tag/" + purpose, cipher, "sha256")[:_TAG]
    if not hmac.compare_digest(tag, expected):
        return None
    pad = _mac(secret, "sessionary/seal/" + purpose)
    try:
        return bytes(a ^ b for a, b in zip(cipher, pad, strict=False)).decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - the tag verified: cannot happen
        return None


def claim(secret: str, purpose: str, *, now: float, ttl: float, value: str = "") -> Steps[bool]:
    """Steps that claim ``purpose`` for ``secret``: ``True`` for the one winner.

    The losers (the claim exists and is live) get ``False`` and may read the
    winner's ``value`` with :func:`read_claim`.
    """
    key = claim_key(secret, purpose)
    record = SessionRecord(
        key_hash=hash_key(key),
        data={"value": json.dumps(value)},
        created=now,
        last_seen=now,
        expires=now + ttl,
        version=1,
    )
    try:
        yield Create(key, record, report=False)
    except SessionKeyExists:
        return False
    return True


def read_claim(secret: str, purpose: str) -> Steps[str | None]:
    """Steps that return the live claim's value, or ``None`` when there is none."""
    record: SessionRecord | None = yield Load(claim_key(secret, purpose), report=False)
    if record is None:
        return None
    value = json.loads(record.data.get("value", '""'))
    return value if isinstance(value, str) else None


def release(secret: str, purpose: str) -> Steps[None]:
    """Steps that give up a won claim whose work failed, so the next attempt can win.

    Best effort: a store that cannot delete it now lets it expire (its ``ttl``).
    """
    try:
        yield Delete(claim_key(secret, purpose), "revoked", report=False)
    except StoreError:
        return
