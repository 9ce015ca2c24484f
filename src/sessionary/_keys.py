"""Session keys: how they are made, checked and hashed."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

KEY_LENGTH = 32
_ALPHABET = string.ascii_lowercase + string.digits
# A key must look like one before the store is asked about it: anything else
# is a client's noise and costs no round trip.
_KEY_RE = re.compile(r"[a-z0-9]{32}\Z")


def new_key() -> str:
    """Return a fresh key: 32 characters of [a-z0-9] from ``secrets`` (165 bits)."""
    choice = secrets.choice
    return "".join([choice(_ALPHABET) for _ in range(KEY_LENGTH)])


def is_valid_key(value: str | None) -> bool:
    """Whether ``value`` has the shape of a session key."""
    return value is not None and _KEY_RE.match(value) is not None


def hash_key(key: str) -> str:
    """Return the one-way hash under which stores keep ``key``.

    Keys carry 165 random bits, so a plain SHA-256 cannot be brute-forced and
    needs no secret (which would tie stored records to the signing key).
    """
    return hashlib.sha256(key.encode("ascii")).hexdigest()
