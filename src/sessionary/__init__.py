"""sessionary: Django-quality sessions for any ASGI or WSGI application.

Public names are re-exported here; this module imports no web framework.
"""

from __future__ import annotations

from .__about__ import __version__
from .asgi import SessionMiddleware
from .config import SessionConfig
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
from .session import Session
from .wsgi import WSGISessionMiddleware

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
