"""``cookie://``: the whole session travels in the cookie; nothing is kept server-side.

Two modes:

- ``cookie://`` (default): AES-256-GCM authenticated encryption under a key
  derived from ``secret_key`` with HKDF (a per-purpose salt). The visitor can
  neither read nor change the session.
- ``cookie://?mode=signed``: Django's ``signed_cookies`` format (HMAC-SHA256,
  ``TimestampSigner``, salt ``django.contrib.sessions.backends.signed_cookies``,
  compact JSON, optional zlib). A Django app with the same secret reads the
  session (and vice versa). The visitor can read the data but not change it.

Both payloads carry the session's own bookkeeping: a random 32-character id
(what ``session.session_key`` returns, so code expecting a key still works;
it names nothing on the server), created/last-seen times, the expiry deadline
(checked on every load, whatever the browser does with Max-Age), the bound
user and the expiry policy. Payloads over ``compress_over`` bytes are zlib
compressed. Old secrets in ``secret_key_fallbacks`` are accepted, and the
cookie is re-issued under the current secret on that response.

An encoded cookie longer than 4096 bytes raises :class:`CookieTooLarge` (a
:class:`~sessionary.exceptions.SessionTooLarge`) at assignment time, before
the response, so the app can handle it. A bad, tampered, truncated or expired
cookie is a fresh empty session and a line on the ``sessionary.security``
logger, never an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from .._clock import Clock
from .._keys import is_valid_key, new_key
from ..exceptions import BadSignature, ConfigurationError, MissingDependency, SessionTooLarge
from ..signing import TimestampSigner, dumps_json, loads_json
from .base import Change, Progress, SessionInfo, SessionRecord, Store, apply_change

if TYPE_CHECKING:
    from ..config import SessionConfig

__all__ = ["MAX_COOKIE_BYTES", "CookieStore", "CookieTooLarge"]

MAX_COOKIE_BYTES = 4096
"""What every browser keeps for one cookie (name, value and attributes)."""
DJANGO_SALT = "django.contrib.sessions.backends.signed_cookies"
_HKDF_SALT = b"sessionary.stores.cookie"
_HKDF_INFO = b"aes-256-gcm session cookie v1"
_VERSION = b"\x01"
_NONCE = 12
_RAW = b"j"  # plaintext flags: JSON as is, or zlib-compressed
_ZLIB = b"z"
_MAX_PLAIN = 1 << 16  # a 4 KB cookie never inflates beyond this: a zip bomb stops here
_META = "_sessionary"  # the bookkeeping entry in the Django-compatible payload
_CLIENT_META = ("ua", "ip")  # only the per-user index uses these: not worth cookie bytes

security_logger = logging.getLogger("sessionary.security")


class CookieTooLarge(SessionTooLarge):
    """The encoded session cookie would exceed what browsers keep (4096 bytes)."""

    def __init__(self, size: int, limit: int = MAX_COOKIE_BYTES) -> None:
        super().__init__(size, limit)
        self.args = (
            f"the session cookie would be {size} bytes, above the {limit} bytes browsers keep: "
            "store less in the session or use a server-side store",
        )


class CookieStore(Store):
    """Keeps the session in the cookie itself; ``SessionConfig`` hands it the secrets."""

    requires_secret: ClassVar[bool] = True
    client_side: ClassVar[bool] = True

    def __init__(
        self, *, mode: str = "encrypted", compress_over: int = 256, clock: Clock | None = None
    ) -> None:
        super().__init__(clock=clock)
        if mode not in ("encrypted", "signed"):
            raise ConfigurationError(
                "store", f"cookie mode {mode!r} is not 'encrypted' or 'signed'"
            )
        self.mode = mode
        self.compress_over = compress_over
        self._secrets: tuple[str, ...] = ()
        self._aead: list[Any] = []
        self._signer: TimestampSigner | None = None
        self._cookie_name = "sessionid"
        self._cookie_age = 1_209_600
        if mode == "encrypted":
            _require_cryptography()

    def __repr__(self) -> str:
        return f"CookieStore(mode={self.mode!r})"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> CookieStore:
        query = dict(parse_qsl(urlsplit(url).query))
        unknown = set(query) - {"mode", "compress_over"}
        if unknown:
            raise ConfigurationError("store", f"unknown cookie:// option(s) {sorted(unknown)}")
        if "mode" in query:
            options.setdefault("mode", query["mode"])
        if "compress_over" in query:
            try:
                options.setdefault("compress_over", int(query["compress_over"]))
            except ValueError:
                raise ConfigurationError("store", "compress_over must be a whole number") from None
        return cls(**options)

    def configure(self, config: SessionConfig) -> None:
        """Take the secrets, cookie name and age from ``config``."""
        secrets = (config.secret_key or "", *config.secret_key_fallbacks)
        if self._secrets and self._secrets != secrets:
            raise ConfigurationError(
                "store", "this CookieStore is already used with other secrets: make one per config"
            )
        self._secrets = secrets
        self._cookie_name = config.cookie_name
        self._cookie_age = config.cookie_age
        if self.mode == "encrypted":
            self._aead = [_aead_for(secret) for secret in secrets]
        else:
            self._signer = TimestampSigner(secrets, DJANGO_SALT, clock=lambda: self.clock())

    # -- the cookie value ----------------------------------------------------

    def encode(self, key: str, record: SessionRecord) -> str:
        """The cookie value that carries ``record`` (and the id ``key``)."""
        if not self._secrets:
            raise ConfigurationError("store", "CookieStore is used before a SessionConfig got it")
        bookkeeping = {
            "k": key,
            "c": record.created,
            "s": record.last_seen,
            "e": record.expires,
            "u": record.user_id,
            "m": {k: v for k, v in record.meta.items() if k not in _CLIENT_META},
        }
        if self.mode == "signed":
            return self._encode_signed(record.data, bookkeeping)
        data = ",".join(
            f"{json.dumps(name, ensure_ascii=False)}:{raw}" for name, raw in record.data.items()
        )
        plain = f'{{"d":{{{data}}},"x":{json.dumps(bookkeeping, ensure_ascii=False)}}}'.encode()
        flag = _RAW
        if len(plain) > self.compress_over:
            compressed = zlib.compress(plain)
            if len(compressed) < len(plain):
                plain, flag = compressed, _ZLIB
        nonce = os.urandom(_NONCE)
        sealed = self._aead[0].encrypt(nonce, flag + plain, _VERSION)
        return base64.urlsafe_b64encode(_VERSION + nonce + sealed).rstrip(b"=").decode("ascii")

    def _encode_signed(self, data: Mapping[str, str], bookkeeping: dict[str, Any]) -> str:
        # Django reads its payload as latin-1 JSON: keep it ASCII.
        payload = {name: json.loads(raw) for name, raw in data.items()}
        payload[_META] = bookkeeping
        text = json.dumps(payload, separators=(",", ":")).encode("ascii")
        return dumps_json(self._django_signer(), text, compress=len(text) > self.compress_over)

    def cookie_value(self, key: str, record: SessionRecord | None) -> str:
        """The encrypted (or signed) record: the cookie carries the session itself."""
        if record is None:
            raise RuntimeError("a cookie session has no value before it is saved")
        return self.encode(key, record)

    def read_cookie(self, value: str) -> tuple[str, SessionRecord, bool] | None:
        """Return ``(id, record, rotated)`` for a cookie value, or ``None`` when it is bad.

        ``rotated`` tells that an old secret verified it (so it should be
        re-issued). Never raises on client input; logs why a value is refused.
        """
        if not self._secrets:
            return None
        try:
            if self.mode == "signed":
                payload, index, signed_at = self._open_signed(value)
            else:
                payload, index = self._open_encrypted(value)
                signed_at = None
            found = _record_from_payload(payload, signed_at, self._cookie_age)
        except BadSignature as exc:
            security_logger.info("refused a session cookie: %s", exc)
            return None
        key, record = found
        if not record.is_live(self.clock()):
            security_logger.info("refused an expired session cookie")
            return None
        return key, record, index > 0

    def _open_encrypted(self, value: str) -> tuple[dict[str, Any], int]:
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
        except (ValueError, binascii.Error):
            raise BadSignature("not base64") from None
        if len(raw) < 1 + _NONCE + 16 + 1 or raw[:1] != _VERSION:
            raise BadSignature("truncated or unknown format")
        nonce, sealed = raw[1 : 1 + _NONCE], raw[1 + _NONCE :]
        plain, index = self._decrypt(nonce, sealed)
        flag, body = plain[:1], plain[1:]
        if flag == _ZLIB:
            body = _inflate(body)
        payload = _json_object(body)
        data, extra = payload.get("d"), payload.get("x")
        if not isinstance(data, dict) or not isinstance(extra, dict):
            raise BadSignature("payload has the wrong shape")
        return {**data, _META: extra}, index

    def _decrypt(self, nonce: bytes, sealed: bytes) -> tuple[bytes, int]:
        from cryptography.exceptions import InvalidTag

        for index, aead in enumerate(self._aead):
            try:
                return aead.decrypt(nonce, sealed, _VERSION), index
            except InvalidTag:
                continue
        raise BadSignature("does not decrypt under any key")

    def _django_signer(self) -> TimestampSigner:
        if self._signer is None:
            raise ConfigurationError("store", "CookieStore is used before a SessionConfig got it")
        return self._signer

    def _open_signed(self, value: str) -> tuple[dict[str, Any], int, int]:
        try:
            text, timestamp, index = loads_json(self._django_signer(), value)
        except UnicodeError:
            raise BadSignature("not ASCII") from None
        if text[:1] == b"" or len(text) > _MAX_PLAIN:
            raise BadSignature("empty or oversized payload")
        return _json_object(text), index, timestamp

    # -- the store interface: nothing is stored, the cookie is the record ------

    async def load(self, key: str) -> SessionRecord | None:
        return None

    async def save(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        self.save_sync(key, record, must_create=must_create)

    async def apply(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        return self.apply_sync(key, change, base)

    async def delete(self, key: str) -> None:
        return None

    async def exists(self, key: str) -> bool:
        return False

    async def clear_expired(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        return 0

    async def sessions_for(self, user_id: str) -> list[SessionInfo]:
        return []

    async def revoke(self, user_id: str, target: str, *, current: str | None = None) -> int:
        return 0

    def load_sync(self, key: str) -> SessionRecord | None:
        """Always ``None``: a cookie session is read from the cookie, not by key."""
        return None

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        """Check that ``record`` fits in a cookie; the middleware writes the cookie."""
        self.check_size(key, record)

    def apply_sync(
        self, key: str, change: Change, base: SessionRecord | None = None
    ) -> SessionRecord | None:
        if base is None:
            return None
        record = apply_change(base, change)
        self.check_size(key, record)
        return record

    def delete_sync(self, key: str) -> None:
        """Nothing to delete server-side: the middleware deletes the cookie."""

    def exists_sync(self, key: str) -> bool:
        return False

    def clear_expired_sync(
        self, *, batch_size: int = 1000, progress: Progress | None = None
    ) -> int:
        """Expired cookies die in the browser, and are refused if they come back."""
        return 0

    def sessions_for_sync(self, user_id: str) -> list[SessionInfo]:
        """Cookie sessions cannot be listed: the server keeps no record of them."""
        return []

    def revoke_sync(self, user_id: str, target: str, *, current: str | None = None) -> int:
        """Cookie sessions cannot be revoked server-side (rotate the secret to end them all)."""
        return 0

    # -- size ------------------------------------------------------------------

    def cookie_size(self, key: str, record: SessionRecord) -> int:
        """Bytes of the ``name=value`` pair that would carry ``record``."""
        return len(self._cookie_name) + 1 + len(self.encode(key, record))

    def check_size(self, key: str, record: SessionRecord) -> None:
        """Raise :class:`CookieTooLarge` when ``record`` does not fit in a cookie."""
        # Attributes (Path, Expires, Max-Age, SameSite…) take about 120 bytes.
        size = self.cookie_size(key, record) + 120
        if size > MAX_COOKIE_BYTES:
            raise CookieTooLarge(size)

    def check_data(self, data: Mapping[str, str], meta: Mapping[str, Any]) -> None:
        """Raise :class:`CookieTooLarge` now if ``data`` could not travel in the cookie."""
        # Cheap bound first: compression and encryption add at most this much
        # on top of the raw text, so small sessions skip the exact check.
        rough = sum(len(k) + len(v) + 6 for k, v in data.items())
        if rough * 4 // 3 + 600 < MAX_COOKIE_BYTES:
            return
        now = self.clock()
        probe = SessionRecord("", dict(data), now, now, now, meta.get("uid"), 1, dict(meta))
        self.check_size(new_key(), probe)


def _require_cryptography() -> None:
    try:
        import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
    except ImportError:
        raise MissingDependency("CookieStore (encrypted mode)", "cookie") from None


def _aead_for(secret: str) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(hashes.SHA256(), 32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret.encode())
    return AESGCM(key)


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(body, _MAX_PLAIN)
    except zlib.error:
        raise BadSignature("does not decompress") from None
    if inflater.unconsumed_tail:
        raise BadSignature("decompresses beyond the size limit")
    return plain


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        raise BadSignature("payload is not JSON") from None
    if not isinstance(payload, dict):
        raise BadSignature("payload is not an object")
    return payload


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadSignature("payload has a bad time")
    return float(value)


def _record_from_payload(
    payload: dict[str, Any], signed_at: int | None, cookie_age: int
) -> tuple[str, SessionRecord]:
    extra = payload.pop(_META, None)
    data = {
        name: json.dumps(v, ensure_ascii=False, separators=(",", ":"))
        for name, v in payload.items()
    }
    if extra is None and signed_at is not None:
        # Written by Django: its expiry is the signature's age against the cookie age.
        created = float(signed_at)
        return new_key(), SessionRecord("", data, created, created, created + cookie_age, version=1)
    if not isinstance(extra, dict):
        raise BadSignature("payload has no bookkeeping")
    key, user, meta = extra.get("k"), extra.get("u"), extra.get("m")
    if not is_valid_key(key) or not isinstance(meta, dict):
        raise BadSignature("payload has a bad id")
    if user is not None and not isinstance(user, str):
        raise BadSignature("payload has a bad user id")
    record = SessionRecord(
        key_hash="",
        data=data,
        created=_number(extra.get("c")),
        last_seen=_number(extra.get("s")),
        expires=_number(extra.get("e")),
        user_id=user,
        version=1,
        meta=meta,
    )
    return str(key), record
