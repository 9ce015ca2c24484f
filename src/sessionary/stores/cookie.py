"""``cookie://``: the whole session in the cookie, encrypted by default.

Encrypted mode (the default) seals the record with AES-GCM; the visitor can
neither read nor change it. Signed mode (``cookie://?mode=signed``) only
authenticates it (HMAC-SHA256), as Django's ``signed_cookies`` engine does:
the visitor can read but not change it. Both take their key from
:func:`sessionary.signing.derive_key`, with a purpose per mode and per cookie
name; AES-GCM also authenticates the mode and cookie name as associated data.
So a cookie sealed under one cookie name never opens under another name
configured with the same secret. The expiry travels inside the authenticated
payload, so an old cookie replayed past its deadline is refused even if the
browser kept it. Payloads over 1 KiB are compressed. Cookies sealed with a
key from ``secret_key_fallbacks``, or in the format that preceded the one
derivation (``1.`` / ``s1.``, accepted during the migration window unless
``accept_legacy=False``), are accepted and re-issued on that response.

A sealed value longer than one cookie holds (4096 bytes) travels split over
``name``, ``name.1``, ... up to ``max_cookies`` cookies (default 4). The
session refuses, at assignment, data that would not fit (``max_data_bytes``,
computed from the cap, the cookie name, the sealing overhead and a reserve for
the record's own fields), raising :class:`~sessionary.SessionTooLarge`.

There is nothing server-side: ``delete`` and ``clear_expired`` have nothing
to do, and the per-user index is not available. Nothing is kept under the
key's hash either, so the records this store opens leave ``key_hash`` empty
(hashing the key on every request served no reader).
"""

from __future__ import annotations

import binascii
import json
import os
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

from .._clock import Clock
from .._serialization import decode_plain, encode_plain
from ..cookies import MAX_COOKIE_BYTES, chunks_capacity
from ..exceptions import BadSignature, ConfigurationError, MissingDependency, SessionTooLarge
from ..signing import Signer, derive_key, matching_key
from ._adapters import InlineAsync
from .base import Change, Progress, SessionInfo, SessionRecord, apply_change

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

DEFAULT_MAX_COOKIES = 4
_MAX_COOKIES_CAP = 16
# zlib costs ~5-10 µs a cycle each way; below 1 KiB the bytes it saves buy nothing,
# so only larger sessions pay for it.
_COMPRESS_OVER = 1024
_ENCRYPTED, _SIGNED = "2", "s2"
_LEGACY_ENCRYPTED, _LEGACY_SIGNED = "1", "s1"
_NONCE, _TAG = 12, 16
# Room kept in the sealed body for the record's own fields around the data:
# the key, three timestamps, the version, a user id (at most
# _MAX_USER_ID characters) and the metadata (expiry policy, auth markers).
_RECORD_RESERVE = 1024
_MAX_USER_ID = 128


class CookieTooLarge(SessionTooLarge):
    """The sealed session would not fit in the cookies the store may use."""

    def __init__(self, size: int, limit: int = MAX_COOKIE_BYTES, cookies: int = 1) -> None:
        super().__init__(size, limit)
        self.args = (
            f"the session cookie would be {size} bytes, above the {limit} bytes "
            f"{cookies} cookie{'s' if cookies > 1 else ''} can hold: store less in the "
            "session, raise max_cookies, or use a server-side store",
        )


def _legacy_key(secret: str, purpose: bytes) -> bytes:
    # The derivation before signing.derive_key: read-only, for the migration window.
    return HKDF(
        algorithm=SHA256(), length=32, salt=b"sessionary.stores.cookie", info=purpose
    ).derive(secret.encode("utf-8"))


# AES-GCM nonces, drawn from the OS a block at a time: one getrandom(2) per
# _NONCE_BLOCK cookies sealed, not one per cookie (a system call costs more
# than the sealing). A nonce must never repeat and need not be secret:
# ``popleft`` hands each to exactly one caller whatever the threads, and a
# forked child drops what it inherited, which its parent also holds.
_NONCE_BLOCK = 64
_nonces: deque[bytes] = deque()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_nonces.clear)


def _nonce() -> bytes:
    while True:
        try:
            return _nonces.popleft()
        except IndexError:
            block = os.urandom(_NONCE * _NONCE_BLOCK)
            _nonces.extend(block[at : at + _NONCE] for at in range(0, len(block), _NONCE))


# base64url without padding: pybase64 (the speedups extra: SIMD, and the
# URL-safe alphabet in the same pass) when installed, else straight
# on binascii (the base64 module's urlsafe functions add two Python layers and
# a second translate). Both write the same text; both refuse the standard
# alphabet's "+" and "/" and padding, which no sealed value holds.
_fast_b64decode: Callable[..., bytes] | None
_fast_b64encode: Callable[..., bytes] | None
try:
    from pybase64 import b64decode as _fast_b64decode
    from pybase64 import b64encode as _fast_b64encode
except ImportError:  # pragma: no cover - exercised only without the speedups extra
    _fast_b64decode = _fast_b64encode = None
_URLSAFE = b"-_"
_TO_URLSAFE = bytes.maketrans(b"+/", _URLSAFE)
_FROM_URLSAFE = bytes.maketrans(_URLSAFE, b"+/")


def _b64(data: bytes) -> str:
    if _fast_b64encode is not None:
        return _fast_b64encode(data, altchars=_URLSAFE).rstrip(b"=").decode()
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Raises ``ValueError`` (``binascii.Error`` is one) or ``UnicodeError`` unless base64url."""
    if "+" in text or "/" in text or "=" in text:
        raise ValueError("not base64url")
    padded = text + "=" * (-len(text) % 4)
    if _fast_b64decode is not None:
        return _fast_b64decode(padded, altchars=_URLSAFE, validate=True)
    return binascii.a2b_base64(padded.encode("ascii").translate(_FROM_URLSAFE), strict_mode=True)


def _flat_body(key: str, record: SessionRecord) -> bytes:
    """The record as one line of JSON for its own fields, then the data values as they are.

    Values are already JSON text: laid after the line one per line (their
    names in it), they are written once, where an outer JSON document
    escaped each again (doubling every quote) and parsed it twice. Compact
    JSON never holds a raw newline (it escapes one inside a string), so a
    newline separates them; a value that does hold one (text not written
    by a JSON encoder) makes the line carry every value's length instead,
    and the values are laid end to end.
    """
    data = record.data
    head = [
        key,
        record.meta,
        record.created,
        record.last_seen,
        record.expires,
        record.user_id,
        record.version,
        list(data),
    ]
    values = "\n".join(data.values())
    if values.count("\n") != max(len(data) - 1, 0):
        head.append(list(map(len, data.values())))
        values = "".join(data.values())
    # JSON escapes a newline inside a string: the line never holds one.
    # surrogatepass: a lone surrogate in a value (no UTF-8 exists for it) seals too.
    return encode_plain(head) + b"\n" + values.encode("utf-8", "surrogatepass")


def _open_flat(raw: bytes) -> list[Any]:
    """The fields ``_flat_body`` wrote, in the nested format's order; ValueError if malformed."""
    line, _, rest = raw.partition(b"\n")
    head = decode_plain(line)
    values = rest.decode("utf-8", "surrogatepass")
    if len(head) == 8:  # one value a line
        sid, meta, created, last_seen, expires, user_id, version, names = head
        data = dict(zip(names, values.split("\n") if names else (), strict=True))
    else:  # each value's length in the line, the values end to end
        sid, meta, created, last_seen, expires, user_id, version, names, sizes = head
        if len(names) != len(sizes) or sum(sizes) != len(values):
            raise ValueError("not a flat session record")
        data = {}
        at = 0
        for name, size in zip(names, sizes, strict=True):
            if not isinstance(size, int) or size < 0:
                raise ValueError("not a flat session record")
            data[name] = values[at : at + size]
            at += size
    if (not names and values) or len(data) != len(names) or not set(map(type, data)) <= _STR:
        raise ValueError("not a flat session record")
    return [sid, data, meta, created, last_seen, expires, user_id, version]


_STR = frozenset((str,))


@dataclass(slots=True)
class SealedRecord(SessionRecord):
    """A record opened from a cookie: the session key travels inside it."""

    sid: str = ""
    stale: bool = False
    """Opened with a fallback secret or a legacy format: re-issue under the current key."""


class CookieStore(InlineAsync):
    """Keeps each session inside its own cookie(s) (``mode``: "encrypted" or "signed").

    The secrets come from the :class:`~sessionary.SessionConfig` that uses the
    store (``for_config`` returns a copy holding them), or are given here.
    ``max_cookies`` caps how many cookies one session may be split over
    (``cookie://?max_cookies=2``); ``accept_legacy=False``
    (``cookie://?legacy=off``) ends the migration window for cookies sealed
    in the format before the one key derivation.
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
        max_cookies: int = DEFAULT_MAX_COOKIES,
        accept_legacy: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(clock=clock)
        if mode not in ("encrypted", "signed"):
            raise ConfigurationError(
                "store", f"cookie mode {mode!r} is not 'encrypted' or 'signed'"
            )
        if not 1 <= max_cookies <= _MAX_COOKIES_CAP:
            raise ConfigurationError(
                "store", f"cookie max_cookies={max_cookies} is not between 1 and {_MAX_COOKIES_CAP}"
            )
        self.mode = mode
        self.cookie_name = cookie_name
        self.max_cookies = max_cookies
        self.accept_legacy = accept_legacy
        self._secrets = tuple(s for s in (secret_key, *secret_key_fallbacks) if s)
        # One purpose per mode and cookie name: a cookie sealed for one name
        # is unrelated to any other, even under the same secret.
        purpose = f"cookie-store:{mode}:{cookie_name}"
        self._aad = f"sessionary {purpose}".encode()
        self._keys = [derive_key(s, purpose) for s in self._secrets]
        self._ciphers = [AESGCM(k) for k in self._keys]  # stateless: one per key, made once
        self._signer = (
            Signer(self._secrets, salt=purpose, sep=".", legacy_keys=())
            if self._secrets and mode == "signed"
            else None
        )
        legacy_purpose = b"encryption" if mode == "encrypted" else b"signing"
        self._legacy_keys = (
            [_legacy_key(s, legacy_purpose) for s in self._secrets] if accept_legacy else []
        )
        self._capacity = chunks_capacity(cookie_name, max_cookies)
        self.max_data_bytes = self._data_limit()

    def _data_limit(self) -> int:
        """The most session data (as the session counts it) that always fits.

        The sealed value is base64url of the body plus the nonce and tag
        (encrypted) or a version and an HMAC (signed). The body is the
        record's JSON, compressed when that makes it smaller: data of N
        counted bytes takes at most N bytes compressed (values are ASCII
        JSON, at most 6.6 bits of information a byte), and the record's own
        fields fit in _RECORD_RESERVE.
        """
        room = self._capacity
        if self.mode == "encrypted":
            body = (room - len(_ENCRYPTED) - 1) * 3 // 4 - _NONCE - _TAG
        else:
            body = (room - len(_SIGNED) - 2 - 43) * 3 // 4
        return max(0, body - 1 - _RECORD_RESERVE)

    @property
    def max_user_id_length(self) -> int | None:
        return _MAX_USER_ID

    @classmethod
    def from_url(cls, url: str) -> CookieStore:
        query = parse_qs(urlsplit(url).query)
        mode = query.get("mode", ["encrypted"])[-1]
        max_cookies_text = query.get("max_cookies", [str(DEFAULT_MAX_COOKIES)])[-1]
        if not max_cookies_text.isdigit():
            raise ConfigurationError(
                "store", f"cookie max_cookies={max_cookies_text!r} is not a whole number"
            )
        legacy = query.get("legacy", ["on"])[-1].lower()
        if legacy not in ("on", "off", "true", "false", "1", "0"):
            raise ConfigurationError("store", f"cookie legacy={legacy!r} is not on or off")
        return cls(
            mode,  # type: ignore[arg-type]
            max_cookies=int(max_cookies_text),
            accept_legacy=legacy in ("on", "true", "1"),
        )

    def __repr__(self) -> str:
        return f"CookieStore(mode={self.mode!r}, max_cookies={self.max_cookies})"

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
            max_cookies=self.max_cookies,
            accept_legacy=self.accept_legacy,
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
        """The cookie value for ``record``; raises :class:`CookieTooLarge`.

        The value may be longer than one cookie: the response splits it
        (``sessionary.cookies.split_into_chunks``) up to ``max_cookies``.
        """
        if not self._keys:
            raise ConfigurationError("secret_key", "CookieStore needs a secret_key")
        body = _flat_body(key, record)
        # A one-byte tag says whether zlib was worth it.
        if len(body) > _COMPRESS_OVER:
            packed = zlib.compress(body, 6)
            body = b"g" + packed if len(packed) < len(body) else b"f" + body
        else:
            body = b"f" + body
        if self._signer is None:
            nonce = _nonce()
            sealed = self._ciphers[0].encrypt(nonce, body, self._aad)
            value = f"{_ENCRYPTED}.{_b64(nonce + sealed)}"
        else:
            value = self._signer.sign(f"{_SIGNED}.{_b64(body)}")
        if len(value) > self._capacity:
            raise CookieTooLarge(len(value), self._capacity, self.max_cookies)
        return value

    def _open(self, value: str) -> tuple[bytes, bool] | None:
        """Verify ``value``; return its body and whether to re-issue it (an old key or format)."""
        version, _, rest = value.partition(".")
        try:
            if version == _ENCRYPTED and self._signer is None:
                return self._decrypt(self._ciphers, rest, self._aad)
            if version == _SIGNED and self._signer is not None:
                signed, index = self._signer.verify(value)
                return _unb64(signed.partition(".")[2]), index > 0
            if version == _LEGACY_ENCRYPTED and self._signer is None and self._legacy_keys:
                opened = self._decrypt([AESGCM(k) for k in self._legacy_keys], rest, None)
                return None if opened is None else (opened[0], True)
            if version == _LEGACY_SIGNED and self._signer is not None and self._legacy_keys:
                payload, _, mac = rest.partition(".")
                given = _unb64(mac)
                if matching_key(self._legacy_keys, payload.encode("ascii"), given) < 0:
                    return None
                return _unb64(payload), True
        except (BadSignature, ValueError, binascii.Error, UnicodeError):
            return None
        return None

    @staticmethod
    def _decrypt(
        ciphers: Sequence[AESGCM], sealed: str, aad: bytes | None
    ) -> tuple[bytes, bool] | None:
        blob = _unb64(sealed)
        nonce, ciphertext = blob[:_NONCE], blob[_NONCE:]
        if len(ciphers) == 1:  # no fallback secret: one key to try
            try:
                return ciphers[0].decrypt(nonce, ciphertext, aad), False
            except InvalidTag:
                return None
        opened: tuple[bytes, bool] | None = None
        # Every key is tried, so the time taken does not tell which one opened it.
        for index, cipher in enumerate(ciphers):
            try:
                body = cipher.decrypt(nonce, ciphertext, aad)
            except InvalidTag:
                continue
            if opened is None:
                opened = (body, index > 0)
        return opened

    def decode(self, value: str) -> tuple[str, SessionRecord] | None:
        """The (session id, record) a cookie holds, or ``None`` if it is not ours or dead."""
        opened = self._open(value)
        if opened is None:
            return None
        body, stale_key = opened
        tag = body[:1]
        try:
            raw = zlib.decompress(body[1:]) if tag in (b"g", b"z") else body[1:]
            if tag in (b"f", b"g"):
                fields = _open_flat(raw)
            elif tag in (b"j", b"z"):  # the nested format before the flat one: still opens
                fields = json.loads(raw)
            else:
                return None
            sid, data, meta, created, last_seen, expires, user_id, version = fields
        except (ValueError, TypeError, zlib.error):
            return None
        if not isinstance(sid, str) or not isinstance(data, dict) or not isinstance(meta, dict):
            return None
        # In the fields' order (key_hash, data, created, last_seen, expires,
        # user_id, version, meta, sid, stale), not by keyword: keywords cost
        # this ten-field constructor half as much again, on every request.
        # No key hash: nothing is kept under one (see the module's docstring).
        record = SealedRecord(
            "",
            data,
            float(created),
            float(last_seen),
            float(expires),
            user_id,
            int(version),
            meta,
            sid,
            stale_key or tag in (b"j", b"z"),
        )
        if not record.is_live(self.clock()):
            return None
        return sid, record

    # -- the Store interface: no I/O anywhere (InlineAsync: the async methods are these)

    def load_sync(self, key: str) -> SessionRecord | None:
        decoded = self.decode(key)
        return None if decoded is None else decoded[1]

    def save_sync(self, key: str, record: SessionRecord, *, must_create: bool = False) -> None:
        """Nothing to store: the response carries the record (``carry``)."""

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
