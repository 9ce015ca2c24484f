"""The HMAC that signs the messages cookie: JSON text, base64url, SHA-256.

Kept here, small and private: a salt per purpose, signing with the newest
secret and verifying against every secret in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from ..exceptions import BadSignature

SALT = b"sessionary.messages"


def _key(secret: str) -> bytes:
    # Derive a purpose-bound key, so the session secret is never used raw.
    return hmac.new(secret.encode("utf-8"), SALT, hashlib.sha256).digest()


def _mac(key: bytes, payload: bytes) -> str:
    digest = hmac.new(key, payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(text: str, secret: str) -> str:
    """``text`` (JSON) as ``payload.signature``, both base64url."""
    payload = base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=")
    return f"{payload.decode('ascii')}.{_mac(_key(secret), payload)}"


def unsign(value: str, secrets: Sequence[str]) -> str:
    """The text inside ``value``; :class:`BadSignature` unless one secret signed it."""
    payload, sep, signature = value.rpartition(".")
    if not sep or not payload:
        raise BadSignature("malformed signed value", value)
    raw = payload.encode("ascii", "replace")
    if not any(hmac.compare_digest(_mac(_key(s), raw), signature) for s in secrets):
        raise BadSignature("signature does not match", value)
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadSignature("undecodable payload", value) from exc
