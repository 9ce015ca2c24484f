"""The errors sessionary raises.

Every error derives from :class:`SessionError`::

    SessionError
    ├── ConfigurationError        bad settings, found at start-up (names the field)
    │   └── MissingDependency     a store or integration needs an extra
    ├── SessionDataError          values the session cannot hold
    │   ├── UnserializableValue   (also a TypeError) a value that is not JSON-safe
    │   ├── SessionTooLarge       the encoded session exceeds max_session_bytes
    │   └── InvalidUserId         (also a ValueError) a user id the store cannot bind
    ├── StoreError                the store failed
    │   ├── StoreUnavailable      the server cannot be reached or timed out
    │   ├── SessionKeyExists      a must-create save met an existing key
    │   └── CorruptRecord         a stored record could not be decoded
    └── BadSignature              a signed or encrypted value failed verification
        └── SignatureExpired      it verified but is older than allowed
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "ConfigurationError",
    "CorruptRecord",
    "InvalidUserId",
    "MissingDependency",
    "SessionDataError",
    "SessionError",
    "SessionKeyExists",
    "SessionTooLarge",
    "SignatureExpired",
    "StoreError",
    "StoreUnavailable",
    "UnserializableValue",
]


class SessionError(Exception):
    """Base class of every sessionary error."""


class ConfigurationError(SessionError, ValueError):
    """A setting is invalid; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class MissingDependency(ConfigurationError, ImportError):
    """An optional driver or framework is not installed."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(what, f"needs an extra: pip install 'sessionary[{extra}]'")
        self.extra = extra


class SessionDataError(SessionError):
    """The session cannot hold what it was given."""


class UnserializableValue(SessionDataError, TypeError):
    """A value is not JSON-serialisable; ``key`` names the session key."""

    def __init__(self, key: str, value: object) -> None:
        super().__init__(
            f"session[{key!r}]: value of type {type(value).__name__} is not JSON-serialisable"
        )
        self.key = key


class SessionTooLarge(SessionDataError):
    """The encoded session is bigger than the configured limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"encoded session is {size} bytes, above the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class InvalidUserId(SessionDataError, ValueError):
    """``auth.login`` was given a user id the store cannot bind (too long, or not text)."""


class StoreError(SessionError):
    """The store failed to do what was asked."""


class StoreUnavailable(StoreError):
    """The store's server could not be reached, or did not answer in time."""


class SessionKeyExists(StoreError):
    """A save with ``must_create`` found the key already taken."""


class CorruptRecord(StoreError):
    """A stored record could not be decoded."""


class BadSignature(SessionError):
    """A signature or authenticated ciphertext did not verify.

    ``payload`` carries the undecoded value, for logging by the caller.
    """

    def __init__(self, message: str, payload: str | bytes | None = None) -> None:
        super().__init__(message)
        self.payload = payload


class SignatureExpired(BadSignature):
    """The value verified but is older than the allowed age."""

    def __init__(self, message: str, payload: str | bytes | None = None, age: float = 0) -> None:
        super().__init__(message, payload)
        self.age = age
