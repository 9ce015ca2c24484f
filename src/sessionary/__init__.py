"""sessionary: Django-quality sessions for any ASGI or WSGI application.

Public names are re-exported here; this module imports no web framework.
"""

from __future__ import annotations

from .__about__ import __version__
from ._asgi import SessionMiddleware
from ._config import SessionConfig
from ._session import Session
from ._wsgi import WSGISessionMiddleware
from .exceptions import (
    BadSignature,
    ConfigurationError,
    SessionError,
    SessionKeyExists,
    SessionTooLarge,
    SignatureExpired,
    StoreError,
    StoreUnavailable,
    UnserializableValue,
)

__all__ = [
    "BadSignature",
    "ConfigurationError",
    "Session",
    "SessionConfig",
    "SessionError",
    "SessionKeyExists",
    "SessionMiddleware",
    "SessionTooLarge",
    "SignatureExpired",
    "StoreError",
    "StoreUnavailable",
    "UnserializableValue",
    "WSGISessionMiddleware",
    "__version__",
]
