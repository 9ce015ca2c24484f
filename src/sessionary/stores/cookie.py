"""``cookie://``: the whole session in the cookie, encrypted by default.

Encrypted mode (the default) seals the record with AES-GCM under a key
derived (HKDF-SHA256) from ``secret_key``: the visitor can neither read nor
change it. Signed mode (``cookie://?mode=signed``) only authenticates it
(HMAC-SHA256), as Django's ``signed_cookies`` engine does: the visitor can
read but not change it. Either way the expiry travels inside the
authenticated payload, so an old cookie replayed past its deadline is
refused even if the browser kept it. Payloads over 1 KiB are
compressed. Cookies sealed with a key from ``secret_key_fallbacks`` are
accepted and re-issued under the current key on that response.

There is nothing server-side: ``delete`` and ``clear_expired`` have nothing
to do, and the per-user index is not available.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

from .._clock import Clock
from ..exceptions import ConfigurationError, MissingDependency, SessionTooLarge
from .base import Change, Progress, SessionInfo, SessionRecord, Store, apply_change, hash_key

if TYPE_CHECKING:
    from .._config import SessionConfig

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("CookieStore (cryptography)", "cookie") from exc

__all__ = ["CookieStore", "CookieTooLarge"]

MAX_COOKIE_BYTES = 4096
# zlib costs ~5-10 µs a cycle each way; below 1 KiB the bytes it saves buy nothing
# (the limit is 4096), so only larger sessions pay for it.
_COMPRESS_OVER = 1024
_ENCRYPTED, _SIGNED = "1", "s1"
_SALT = b"sessionary.stores.cookie"


class CookieTooLarge(SessionTooLarge):
    """The encoded session cookie would exceed what browsers keep (4096 bytes)."""

    def __init__(self, size: int, limit: int = MAX_COOKIE_BYTES) -> None:
        super().__init__(size, limit)
        self.args = (
            f"the session cookie would be {size} bytes, above the {limit} bytes browsers keep: "
            "store less in the session or use a server-side store",
        )


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=_SALT, info=purpose).derive(
        secret.encode("utf-8")
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(slots=True)
class SealedRecord(SessionRecord):
    """A record opened from a cookie: the session key travels inside it."""

    sid: str = ""
    stale: bool = False
    """Opened with a key from ``secret_key_fallbacks``: re-issue under the current key."""


class CookieStore(Store):
    """Keeps each session inside its own cookie (``mode``: "encrypted" or "signed").

    The secrets come from the :class:`~sessionary.SessionConfig` that uses the
    store (``for_config`` returns a copy holding them), or are given here.
    """

    requires_secret: ClassVar[bool] = True
    client_side: ClassVar[bool] = True

    def __init__(
        self,
        mode: Literal["encrypted", "signed"] = "encrypted",
        *,
        secret_key: str | None = None,
        secret_key_fallbacks: Sequence[str] = (),
        cookie_name: str = "sessionid",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if mode not in ("encrypted", "signed"):
            raise ConfigurationError(
                "store", f"cookie mode {mode!r} is not 'encrypted' or 'signed'"
            )
        self.mode = mode
        self.cookie_name = cookie_name
        self._secrets = tuple(s for s in (secret_key, *secret_key_fallbacks) if s)
        purpose = b"encryption" if mode == "encrypted" else b"signing"
        self._keys = [_derive(s, purpose) for s in self._secrets]

    @classmethod
    def from_url(cls, url: str) -> CookieStore:
        query = parse_qs(urlsplit(url).query)
        mode = query.get("mode", ["encrypted"])[-1]
        return cls(mode)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"CookieStore(mode={self.mode!r})"

    def for_config(self, config: SessionConfig) -> CookieStore:
        """A copy sealing with ``config``'s secrets, sized for its cookie name, on its clock."""
        secrets = tuple(s for s in (config.secret_key, *config.secret_key_fallbacks) if s)
        clock = config.clock or self.clock  # a sealed expiry is checked by the config's clock
        if (secrets, config.cookie_name, clock) == (self._secrets, self.cookie_name, self.clock):
            return self
        return CookieStore(
            self.mode,
            secret_key=config.secret_key,
            secret_key_fallbacks=config.secret_key_fallbacks,
            cookie_name=config.cookie_name,
            clock=clock,
        )

    def carry(self, key: str, record: SessionRecord) -> str:
        """The sealed cookie value (raises :class:`CookieTooLarge`)."""
        return self.encode(key, record)

    def key_from(self, carried: str, record: SessionRecord) -> str:
        return record.sid if isinstance(record, SealedRecord) else carried

    def needs_reissue(self, record: SessionRecord) -> bool:
        return isinstance(record, SealedRecord) and record.stale

    # -- the codec -----------------------------------------------------------

    def encode(self, key: str, record: SessionRecord) -> str:
        """The cookie value for ``record``; raises :class:`CookieTooLarge`."""
        if not self._keys:
            raise ConfigurationError("secret_key", "CookieStore needs a secret_key")
        body = json.dumps(
            [
                key,
                record.data,
                record.meta,
                record.created,
                record.last_seen,
                record.expires,
                record.user_id,
                record.version,
            ],
            separators=(",", ":"),
            # Escaped ASCII: any str (a lone surrogate in a name) encodes, so it seals.
            ensure_ascii=True,
        ).encode("utf-8")
        # A one-byte tag says whether zlib was worth it.
        body = b"z" + zlib.compress(body, 6) if len(body) > _COMPRESS_OVER else b"j" + body
        if self.mode == "encrypted":
            nonce = os.urandom(12)
            value = f"{_ENCRYPTED}.{_b64(nonce + AESGCM(self._keys[0]).encrypt(nonce, body, None))}"
        else:
            payload = _b64(body)
            mac = hmac.new(self._keys[0], payload.encode("ascii"), hashlib.sha256).digest()
            value = f"{_SIGNED}.{payload}.{_b64(mac)}"
        size = len(self.cookie_name) + 1 + len(value)
        if size > MAX_COOKIE_BYTES:
            raise CookieTooLarge(size)
        return value

    def _open(self, value: str) -> tuple[bytes, bool] | None:
        """Verify ``value``; return its body and whether a fallback key opened it."""
        try:
            if self.mode == "encrypted":
                version, _, sealed = value.partition(".")
                if version != _ENCRYPTED:
                    return None
                blob = _unb64(sealed)
                nonce, ciphertext = blob[:12], blob[12:]
                for index, key in enumerate(self._keys):
                    try:
                        return AESGCM(key).decrypt(nonce, ciphertext, None), index > 0
                    except InvalidTag:
                        continue
                return None
            version, payload, mac_text = value.split(".")
            if version != _SIGNED:
                return None
            mac = _unb64(mac_text)
            for index, key in enumerate(self._keys):
                expected = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
                if hmac.compare_digest(expected, mac):
                    return _unb64(payload), index > 0
            return None
        except (ValueError, binascii.Error, UnicodeError):
            return None

    def decode(self, value: str) -> tuple[str, SessionRecord] | None:
        """The (session id, record) a cookie holds, or ``None`` if it is not ours or dead."""
        opened = self._open(value)
        if opened is None:
            return None
        body, stale_key = opened
        try:
            raw = zlib.decompress(body[1:]) if body[:1] == b"z" else body[1:]
            sid, data, meta, created, last_seen, expires, user_id, version = json.loads(raw)
        except (ValueError, TypeError, zlib.error):
            return None
        if not isinstance(sid, str) or not isinstance(data, dict) or not isinstance(meta, dict):
            return None
        record = SealedRecord(
            key_hash=hash_key(sid),
            data=data,
            created=float(created),
            last_seen=float(last_seen),
            expires=float(expires),
            user_id=user_id,
            version=int(version),
            meta=meta,
            sid=sid,
            stale=stale_key,
        )
        if not record.is_live(self.clock()):
            return None
        return sid, record

    # -- the Store interface: no I/O anywhere ----------------------------------

    def load_sync(self, key: str) -> SessionRecord | None:
        decoded = self.decode(key)
        return None if decoded is None else decoded[1]

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        record.key_hash = hash_key(key)

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        return None if base is None else apply_change(base, change)

    def delete_sync(self, key: str) -> None:
        """Nothing to delete: the response deletes the cookie."""

    def exists_sync(self, key: str) -> bool:
        return self.load_sync(key) is not None

    def clear_expired_sync(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return 0  # expired cookies die in the browser, and are refused if replayed

    def sessions_for_sync(self, user_id: str) -> list[SessionInfo]:
        raise NotImplementedError("the cookie store keeps nothing server-side to list")

    def revoke_sync(self, user_id: str, target: str, *, current: str | None = None) -> int:
        raise NotImplementedError("the cookie store keeps nothing server-side to revoke")

    async def load(self, key: str) -> SessionRecord | None:
        return self.load_sync(key)

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        self.save_sync(key, record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        return self.apply_sync(key, change, base)

    async def delete(self, key: str) -> None:
        self.delete_sync(key)

    async def exists(self, key: str) -> bool:
        return self.exists_sync(key)

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return 0

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        return self.sessions_for_sync(user_id)

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        return self.revoke_sync(user_id, target, current=current)
