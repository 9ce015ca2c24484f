"""CSRF tokens for the shop's forms that never create a session.

Every page has a form (the theme switch in the header), so a token kept in
the session would save a record, and set a session cookie, for every visitor
who only looks: crawlers would fill the store. Instead:

- a visitor who is not signed in gets a random secret in a small cookie of
  its own, set when a page with a form is first shown, and the form sends it
  back (a double-submit token, as Django's CSRF cookie): no server state;
- a signed-in visitor's secret lives in the session, made anew at sign-in,
  so a token from before sign-in (or planted as a cookie) does not work after.

The two kinds of token are told apart by a prefix, so a form rendered while
signed in that arrives after the session ended (signed out on another
device) is recognised as such, and is answered with that, not a refusal.
"""

from __future__ import annotations

import enum
import re
import secrets

from starlette.requests import Request
from starlette.responses import Response

from .. import cookies
from .._session import Session

__all__ = ["COOKIE", "FIELD", "Verdict", "check", "new_secret", "set_cookie_if_new", "token"]

FIELD = "csrf_token"
COOKIE = "csrftoken"
SESSION_KEY = "csrf"
# A year, as Django's CSRF cookie: it guards forms, it does not identify anyone.
_COOKIE_AGE = 365 * 24 * 3600
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{43}\Z")
_SIGNED_IN = "s."
_VISITOR = "v."


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    SIGNED_OUT = "signed out"
    """A signed-in form, sent after the session it belonged to ended."""
    REFUSED = "refused"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _session(request: Request) -> Session:
    session: Session = request.scope["session"]
    return session


def _cookie_secret(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value is not None and _SECRET_RE.match(value) else None


def token(request: Request) -> str:
    """The token this visitor's forms carry (a signed-in session's, else the cookie's)."""
    session = _session(request)
    if session.user_id is not None:
        secret = session.get(SESSION_KEY)
        if not isinstance(secret, str):
            secret = session[SESSION_KEY] = new_secret()
        return _SIGNED_IN + secret
    visitor_secret: str | None = _cookie_secret(request) or getattr(
        request.state, "csrf_new_secret", None
    )
    if visitor_secret is None:
        visitor_secret = request.state.csrf_new_secret = new_secret()
    return _VISITOR + visitor_secret


def set_cookie_if_new(request: Request, response: Response) -> None:
    """Send the cookie when this response's forms carry a secret the browser does not have."""
    secret = getattr(request.state, "csrf_new_secret", None)
    if secret is not None:
        cookies.set_cookie(
            response, COOKIE, secret, max_age=_COOKIE_AGE, path="/", httponly=True, samesite="Lax"
        )


def check(request: Request, sent: object, *, session_ended: bool) -> Verdict:
    """Whether a POST's ``sent`` token is this visitor's.

    ``session_ended``: the browser sent a session cookie that names no live
    session (signed out elsewhere, or expired).
    """
    if not isinstance(sent, str):
        return Verdict.REFUSED
    session = _session(request)
    if session.user_id is not None:
        secret = session.get(SESSION_KEY)
        expected = _SIGNED_IN + secret if isinstance(secret, str) else None
    else:
        cookie = _cookie_secret(request)
        expected = _VISITOR + cookie if cookie is not None else None
        if session_ended and sent.startswith(_SIGNED_IN):
            # Nothing is done with the form; the prefix only chooses what to say.
            return Verdict.SIGNED_OUT
    if expected is not None and secrets.compare_digest(sent.encode(), expected.encode()):
        return Verdict.ACCEPTED
    return Verdict.REFUSED
