"""Login helpers: bind a user to a session, check it, end it.

Password hashing belongs to a hashing library (the demo uses argon2); these
helpers only bind the user id and a fingerprint of the user's credential
state, so that changing a password ends the user's other sessions, as in
Django.

Step-up: :func:`login` and :func:`reauthenticate` record when the visitor
last proved who they are; :func:`require_recent_auth` (or the raising
:func:`check_recent_auth`) lets a sensitive action insist that this happened
recently. Each integration wraps it for its framework (a decorator or a
dependency that redirects to a re-authentication page, or answers 401).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit, urlunsplit

from ._session import Session
from .events import emit
from .exceptions import ConfigurationError, InvalidUserId, ReauthenticationRequired, TooManySessions
from .stores.base import ALL, ALL_BUT_CURRENT, SessionInfo

__all__ = [
    "alogin",
    "authenticated_at",
    "check_recent_auth",
    "get_user_id",
    "login",
    "login_sync",
    "logout",
    "logout_everywhere",
    "reauthenticate",
    "reauthentication_url",
    "require_recent_auth",
    "revoke_other_sessions",
    "sessions_for",
]

_AUTH = "auth"
_AUTH_AT = "auth_at"  # epoch seconds of the last login or re-authentication


def _fingerprint(auth_hash: str) -> str:
    # Keep only a digest: the session store never holds credential material.
    return hashlib.sha256(auth_hash.encode("utf-8")).hexdigest()


def login(session: Session, user_id: str | int, auth_hash: str | None = None) -> None:
    """Log ``user_id`` in: cycle the key (no fixation), bind the user, record ``auth_hash``.

    ``auth_hash`` is any string that changes when the user's credentials do
    (the password hash, say). With ``max_sessions_per_user`` set, use
    :func:`alogin` or :func:`login_sync`, which count the user's sessions.
    """
    if session.config.max_sessions_per_user is not None:
        raise ConfigurationError(
            "max_sessions_per_user",
            "login() does no I/O and cannot count the user's sessions: "
            "use 'await auth.alogin(...)' or 'auth.login_sync(...)'",
        )
    _login(session, user_id, auth_hash)


async def alogin(session: Session, user_id: str | int, auth_hash: str | None = None) -> None:
    """:func:`login`, holding the user to ``max_sessions_per_user`` (async store API).

    Over the limit, ``on_session_limit="evict_oldest"`` ends the user's least
    recently seen sessions now, to make room; ``"refuse"`` raises
    :class:`~sessionary.exceptions.TooManySessions` and changes nothing.
    """
    limit = session.config.max_sessions_per_user
    if limit is not None:
        user = _checked_user_id(session, user_id)
        store = session.config.store
        doomed = _over_limit(session, await store.sessions_for(user), limit)
        for session_id in doomed:
            await store.revoke(user, session_id)
        _report_evicted(session, len(doomed))
    _login(session, user_id, auth_hash)


def login_sync(session: Session, user_id: str | int, auth_hash: str | None = None) -> None:
    """:func:`alogin` on the sync store API (WSGI, Flask, Django)."""
    limit = session.config.max_sessions_per_user
    if limit is not None:
        user = _checked_user_id(session, user_id)
        store = session.config.store
        doomed = _over_limit(session, store.sessions_for_sync(user), limit)
        for session_id in doomed:
            store.revoke_sync(user, session_id)
        _report_evicted(session, len(doomed))
    _login(session, user_id, auth_hash)


def _over_limit(session: Session, live: list[SessionInfo], limit: int) -> list[str]:
    """The session ids to end so that this login makes at most ``limit``, or
    ``TooManySessions`` under ``"refuse"``."""
    # This session's own record (a re-login) is replaced by the login, not added.
    others = [info for info in live if info.session_id != session.key_hash]
    excess = len(others) + 1 - limit
    if excess <= 0:
        return []
    if session.config.on_session_limit == "refuse":
        raise TooManySessions(limit)
    return [info.session_id for info in sorted(others, key=lambda i: i.last_seen)[:excess]]


def _report_evicted(session: Session, count: int) -> None:
    hooks = session.config.event_hooks
    if hooks and count:
        emit(hooks, "revoked", session.config.store, None, None, count=count)


def _login(session: Session, user_id: str | int, auth_hash: str | None) -> None:
    user = _checked_user_id(session, user_id)
    session.cycle_key()
    session.bind_user(user)
    session.set_meta(_AUTH, _fingerprint(auth_hash) if auth_hash is not None else None)
    session.set_meta(_AUTH_AT, session.config.now())
    dbsc = session.config.dbsc
    if dbsc is not None and dbsc.offer_on_login:
        from ._dbsc.offer import offer

        offer(session)


def reauthenticate(session: Session, *, cycle: bool = True) -> None:
    """Record that the logged-in visitor just proved who they are again (re-entered
    the password): :func:`require_recent_auth` counts from now.

    The key is cycled, as at login: the session gains privileges, so a key
    observed before must not share them. ``cycle=False`` is for a caller that
    has just cycled it (a framework's own login).
    """
    if session.user_id is None:
        raise ValueError("reauthenticate() needs a logged-in session: call login() first")
    if cycle:
        session.cycle_key()
    session.set_meta(_AUTH_AT, session.config.now())


def authenticated_at(session: Session) -> float | None:
    """Epoch seconds of the session's last login or re-authentication, or ``None``."""
    if session.user_id is None:
        return None
    value = session.get_meta(_AUTH_AT)
    return float(value) if isinstance(value, int | float) else None


def require_recent_auth(session: Session, max_age: float) -> bool:
    """Whether a user is logged in and authenticated at most ``max_age`` seconds ago."""
    when = authenticated_at(session)
    return when is not None and session.config.now() - when <= max_age


def check_recent_auth(session: Session, max_age: float) -> None:
    """:func:`require_recent_auth`, raising :class:`ReauthenticationRequired` when it fails."""
    when = authenticated_at(session)
    age = None if when is None else session.config.now() - when
    if age is None or age > max_age:
        raise ReauthenticationRequired(max_age, age)


def reauthentication_url(reauth_url: str, next_url: str) -> str:
    """``reauth_url`` with ``next=`` set to ``next_url`` (a path on this site).

    The integrations' step-up helpers redirect there; the page should send the
    visitor back to ``next`` only if it is a local path.
    """
    parts = urlsplit(reauth_url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}next={quote(next_url, safe='/')}"))


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
            _end(session)
            return None
    return user_id


def _end(session: Session, clear_site_data: bool = False) -> None:
    # A device-bound session also ends in the browser: Clear-Site-Data makes
    # it drop the session's key and bound cookie.
    bound = session.device_bound
    session.flush()
    if bound or clear_site_data:
        session.clear_site_data()


def logout(session: Session, *, clear_site_data: bool | None = None) -> None:
    """Log out: flush the session (data, record and cookie).

    With ``clear_site_data`` (default: ``config.clear_site_data_on_logout``,
    off) the response also carries ``Clear-Site-Data: "cookies"``, so the
    browser drops every cookie of the site, not only the session's. Off by
    default because it reaches cookies the session does not own (other apps
    on the same site, preferences). A device-bound session (DBSC) always
    sends it: the browser must drop the session's key and bound cookie.
    """
    if clear_site_data is None:
        clear_site_data = session.config.clear_site_data_on_logout
    _end(session, clear_site_data)


async def logout_everywhere(session: Session, *, clear_site_data: bool = True) -> int:
    """End every session of the logged-in user, this one included; return how many ended.

    This browser's cookies are cleared too (``Clear-Site-Data: "cookies"``)
    unless ``clear_site_data=False``: the user asked for nothing to remain.
    """
    user_id = session.user_id
    ended = 0
    if user_id is not None:
        hooks = session.config.event_hooks
        started = time.perf_counter() if hooks else None
        ended = await session.config.store.revoke(user_id, ALL)
        if hooks:
            emit(hooks, "revoked", session.config.store, None, started, count=ended)
    logout(session, clear_site_data=clear_site_data)
    return ended


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
