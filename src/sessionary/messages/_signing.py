"""How the messages cookie is signed: JSON text, base64url, then the one :class:`Signer`.

The key is derived for the purpose ``messages:<cookie name>``, so a messages
cookie never verifies as another cookie, nor under another cookie name.
Cookies signed before the one derivation (a key of ``HMAC(secret,
"sessionary.messages")``) are still accepted on read during the migration
window (``docs/security.md``); every write uses the new key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from ..exceptions import BadSignature
from ..signing import Signer

_LEGACY_SALT = b"sessionary.messages"


def _legacy_key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), _LEGACY_SALT, hashlib.sha256).digest()


def _signer(secrets: Sequence[str], cookie_name: str) -> Signer:
    secrets = [s for s in secrets if s]
    legacy = [_legacy_key(s) for s in secrets]
    return Signer(secrets, salt=f"messages:{cookie_name}", sep=".", legacy_keys=legacy)


def sign(text: str, secret: str, cookie_name: str = "messages") -> str:
    """``text`` (JSON) as ``payload.signature``, both base64url."""
    payload = base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")
    return _signer([secret], cookie_name).sign(payload)


def unsign(value: str, secrets: Sequence[str], cookie_name: str = "messages") -> str:
    """The text inside ``value``; :class:`BadSignature` unless one secret signed it."""
    payload = _signer(secrets, cookie_name).unsign(value)
    if not payload:
        raise BadSignature("malformed signed value", value)
    raw = payload.encode("ascii", "replace")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadSignature("undecodable payload", value) from exc
