"""The errors sessionary raises.

Every error derives from :class:`SessionError`::

    SessionError
    ├── ConfigurationError        bad settings, found at start-up (names the field)
    │   └── MissingDependency     a store or integration needs an extra
    ├── SessionDataError          values the session cannot hold
    │   ├── UnserializableValue   (also a TypeError) a value that is not JSON-safe
    │   ├── SessionTooLarge       the encoded session exceeds max_session_bytes
    │   └── InvalidUserId         (also a ValueError) a user id the store cannot bind
    ├── ReauthenticationRequired  the last authentication is older than an action allows
    ├── TooManySessions           a login would pass max_sessions_per_user ("refuse")
    ├── StoreError                the store failed
    │   ├── StoreUnavailable      the server cannot be reached or timed out
    │   ├── SessionKeyExists      a must-create save met an existing key
    │   ├── StoreDataError        the store refused a value (a data error, not an outage)
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
    "ReauthenticationRequired",
    "SessionDataError",
    "SessionError",
    "SessionKeyExists",
    "SessionTooLarge",
    "SignatureExpired",
    "StoreDataError",
    "StoreError",
    "StoreUnavailable",
    "TooManySessions",
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


class ReauthenticationRequired(SessionError):
    """A sensitive action needs a fresher authentication (``auth.check_recent_auth``).

    ``max_age`` is what the action allows (seconds); ``age`` how long ago the
    visitor last authenticated (``None``: never, in this session).
    """

    def __init__(self, max_age: float, age: float | None) -> None:
        when = "never authenticated" if age is None else f"authenticated {age:.0f} s ago"
        super().__init__(f"re-authentication required: {when}, this action allows {max_age:.0f} s")
        self.max_age = max_age
        self.age = age


class TooManySessions(SessionError):
    """A login would give the user more than ``max_sessions_per_user`` live sessions
    (``on_session_limit="refuse"``); nothing was changed. ``limit`` is the setting."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the user already has {limit} live sessions, the most max_sessions_per_user allows"
        )
        self.limit = limit


class StoreError(SessionError):
    """The store failed to do what was asked."""


class StoreUnavailable(StoreError):
    """The store's server could not be reached, or did not answer in time."""


class StoreDataError(StoreError):
    """The store refused a value it was given (too long for a column, out of range).

    A data error, not an outage: the request that made the value is answered,
    its session is not saved (as with a session too large for the store), and
    retrying would fail the same way. Values are refused at assignment where
    the store declares a limit; this is the fallback for anything else.
    """


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
