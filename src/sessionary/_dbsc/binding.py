"""What a device binding keeps, beside the session record (in its metadata).

The binding lives in the session record's ``meta`` under one entry, so it
is stored, expired, revoked and deleted with the record on every store,
addressed by the key's hash like the record itself. It holds the public key
(and its RFC 7638 thumbprint), an opaque DBSC session id (random: never
the session key nor derived from it), the current and previous challenge
with the time each was issued, and the SHA-256 of the current and previous
bound-cookie value with its expiry (never the value). ``gen`` counts the
refreshes: a refresh moves the binding from one generation to the next
once, by a claim (see ``endpoints``).

An offer (before registration) is a second entry: the challenge sealed
under the session key, so that the store alone cannot read it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "BINDING",
    "OFFER",
    "Binding",
    "Offer",
    "cookie_accepted",
    "cookie_digest",
    "new_secret",
]

BINDING = "dbsc"
OFFER = "dbsc_offer"


def new_secret() -> str:
    """256 random bits, URL-safe (challenges, cookie values, session ids)."""
    return secrets.token_urlsafe(32)


def cookie_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Offer:
    nonce: str
    sealed: str
    expires: float
    authorization: str | None

    def to_meta(self) -> dict[str, Any]:
        return {"n": self.nonce, "s": self.sealed, "exp": self.expires, "a": self.authorization}

    @classmethod
    def from_meta(cls, raw: Any) -> Offer | None:
        try:
            return cls(str(raw["n"]), str(raw["s"]), float(raw["exp"]), raw.get("a"))
        except (TypeError, KeyError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Binding:
    session_id: str
    alg: str
    jwk: dict[str, str]
    thumbprint: str
    generation: int
    challenges: tuple[tuple[str, float], ...]
    """(challenge, issued at), current first; at most two."""
    cookies: tuple[tuple[str, float], ...]
    """(SHA-256 of the bound cookie value, expires at), current first; at most two."""

    def to_meta(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "alg": self.alg,
            "jwk": self.jwk,
            "kid": self.thumbprint,
            "gen": self.generation,
            "ch": [list(c) for c in self.challenges],
            "ck": [list(c) for c in self.cookies],
        }

    @classmethod
    def from_meta(cls, raw: Any) -> Binding | None:
        try:
            return cls(
                str(raw["id"]),
                str(raw["alg"]),
                dict(raw["jwk"]),
                str(raw["kid"]),
                int(raw["gen"]),
                tuple((str(c), float(t)) for c, t in raw["ch"]),
                tuple((str(c), float(t)) for c, t in raw["ck"]),
            )
        except (TypeError, KeyError, ValueError):
            return None

    def challenge_accepted(self, challenge: str, now: float, ttl: float) -> bool:
        """Whether ``challenge`` is the current or previous one and not stale."""
        found = False
        for known, issued in self.challenges:
            if hmac.compare_digest(known.encode(), challenge.encode()) and now - issued <= ttl:
                found = True
        return found

    def advanced(
        self, challenge: str, now: float, cookie: str | None = None, cookie_age: float = 0
    ) -> Binding:
        """The next generation: a fresh challenge (and, on a refresh, a fresh
        cookie), the current ones kept as previous."""
        cookies = self.cookies
        if cookie is not None:
            cookies = ((cookie_digest(cookie), now + cookie_age), *self.cookies[:1])
        return replace(
            self,
            generation=self.generation + 1,
            challenges=((challenge, now), *self.challenges[:1]),
            cookies=cookies,
        )


def cookie_accepted(raw: Any, value: str, now: float, grace: float) -> bool:
    """Whether ``value`` is the current or previous bound cookie of the stored
    binding ``raw``, live (plus ``grace``). Read straight from the metadata:
    it runs on every request of a bound session."""
    try:
        cookies = raw["ck"]
    except (TypeError, KeyError):
        return False
    digest = cookie_digest(value)
    found = False
    for entry in cookies:
        try:
            known, expires = str(entry[0]), float(entry[1])
        except (TypeError, ValueError, IndexError):
            continue
        if hmac.compare_digest(known, digest) and now <= expires + grace:
            found = True
    return found
