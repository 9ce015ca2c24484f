"""Offering a binding: the single-use registration challenge and its header.

An offer is made on a session that has a key (after a sign-in): a fresh
challenge (256 random bits), sealed under the session key, is kept in the
session's metadata with its expiry, and the response that commits the
session carries ``Secure-Session-Registration``. The registration
endpoint consumes it once (a claim on the challenge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._claims import seal, unseal
from ..exceptions import ConfigurationError
from ._sfv import serialize_string
from .binding import OFFER, Offer, new_secret

if TYPE_CHECKING:
    from .._config import SessionConfig
    from .._session import Session

__all__ = ["offer", "offer_challenge", "registration_header"]


def _purpose(nonce: str) -> str:
    return "dbsc-offer/" + nonce


def offer(session: Session, *, authorization: str | None = None) -> None:
    """Offer this session a device binding in the response that commits it.

    ``authorization`` is copied by the browser into its registration proof
    (and checked there). A session without a key yet is given one.
    """
    config = session.config
    dbsc = config.dbsc
    if dbsc is None:
        raise ConfigurationError("dbsc", "offer() needs SessionConfig(dbsc=DBSCConfig())")
    if authorization is not None:
        serialize_string(authorization)  # printable ASCII, or ValueError here
    if session.session_key is None:
        session.cycle_key()
    key = session.session_key or ""
    nonce = new_secret()[:22]
    sealed = seal(key, _purpose(nonce), new_secret())
    expires = config.now() + dbsc.offer_ttl
    session.set_meta(OFFER, Offer(nonce, sealed, expires, authorization).to_meta())


def offer_challenge(session: Session, offered: Offer) -> str | None:
    """The clear challenge of ``offered`` (``None`` if it is not this session's)."""
    key = session.session_key
    return None if key is None else unseal(key, _purpose(offered.nonce), offered.sealed)


def registration_header(config: SessionConfig, session: Session) -> tuple[str, str] | None:
    """The ``Secure-Session-Registration`` header for an offer made during this
    request (call before the commit, which replaces the loaded record)."""
    raw = session.get_meta(OFFER)
    if raw is None or config.dbsc is None:
        return None
    base = session.record
    if base is not None and base.meta.get(OFFER) == raw:
        return None  # offered by an earlier response
    offered = Offer.from_meta(raw)
    challenge = None if offered is None else offer_challenge(session, offered)
    if offered is None or challenge is None:
        return None
    dbsc = config.dbsc
    value = (
        f"({' '.join(dbsc.algorithms)});path={serialize_string(dbsc.registration_path)}"
        f";challenge={serialize_string(challenge)}"
    )
    if offered.authorization is not None:
        value += f";authorization={serialize_string(offered.authorization)}"
    return ("secure-session-registration", value)
