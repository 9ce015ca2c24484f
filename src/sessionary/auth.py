"""Login helpers: bind a user to a session, check it, end it.

Password hashing belongs to a hashing library (the demo uses argon2); these
helpers only bind the user id and a fingerprint of the user's credential
state, so that changing a password ends the user's other sessions, as in
Django.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from ._session import Session
from .events import emit
from .exceptions import InvalidUserId
from .stores.base import ALL_BUT_CURRENT, SessionInfo

__all__ = ["get_user_id", "login", "logout", "revoke_other_sessions", "sessions_for"]

_AUTH = "auth"


def _fingerprint(auth_hash: str) -> str:
    # Keep only a digest: the session store never holds credential material.
    return hashlib.sha256(auth_hash.encode("utf-8")).hexdigest()


def login(session: Session, user_id: str | int, auth_hash: str | None = None) -> None:
    """Log ``user_id`` in: cycle the key (no fixation), bind the user, record ``auth_hash``.

    ``auth_hash`` is any string that changes when the user's credentials do
    (the password hash, say).
    """
    user = _checked_user_id(session, user_id)
    session.cycle_key()
    session.bind_user(user)
    session.set_meta(_AUTH, _fingerprint(auth_hash) if auth_hash is not None else None)


def _checked_user_id(session: Session, user_id: str | int) -> str:
    """``user_id`` as the text the store binds, or ``InvalidUserId`` (before anything changes).

    A user id the store cannot hold must fail here, where the app can catch
    it, not at save as a database error answered with 503.
    """
    user = str(user_id)
    store = session.config.store
    limit = store.max_user_id_length
    if limit is not None and len(user) > limit:
        raise InvalidUserId(
            f"user id is {len(user)} characters, above the {limit} that "
            f"{type(store).__name__} can bind"
        )
    if "\x00" in user:
        raise InvalidUserId("user id contains a NUL character, which SQL text columns refuse")
    try:
        user.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidUserId("user id is not valid Unicode text (a lone surrogate)") from None
    return user


def get_user_id(session: Session, auth_hash: str | None = None) -> str | None:
    """The logged-in user's id, or ``None``.

    With ``auth_hash``, a session whose recorded credential state differs (the
    password changed since login) is flushed and ``None`` returned.
    """
    user_id = session.user_id
    if user_id is None:
        return None
    if auth_hash is not None:
        recorded = session.get_meta(_AUTH)
        if not isinstance(recorded, str) or not hmac.compare_digest(
            recorded, _fingerprint(auth_hash)
        ):
            session.flush()
            return None
    return user_id


def logout(session: Session) -> None:
    """Log out: flush the session (data, record and cookie)."""
    session.flush()


async def sessions_for(session: Session) -> list[SessionInfo]:
    """The logged-in user's live sessions (never their keys), oldest first."""
    user_id = session.user_id
    if user_id is None:
        return []
    return await session.config.store.sessions_for(user_id)


async def revoke_other_sessions(session: Session) -> int:
    """End every session of the logged-in user but this one; return how many."""
    user_id = session.user_id
    if user_id is None:
        return 0
    hooks = session.config.event_hooks
    started = time.perf_counter() if hooks else None
    ended = await session.config.store.revoke(user_id, ALL_BUT_CURRENT, current=session.session_key)
    if hooks:
        emit(hooks, "revoked", session.config.store, None, started, count=ended)
    return ended
