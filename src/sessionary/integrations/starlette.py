"""Starlette: step-up re-authentication for endpoints.

::

    from sessionary.integrations.starlette import requires_recent_auth

    @requires_recent_auth(300, reauth_url="/reauth")
    async def change_password(request: Request) -> Response: ...

The session comes from :class:`sessionary.SessionMiddleware`; the rest of
Starlette needs no integration (``request.session`` is the session).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from .. import auth
from .._session import Session
from ..exceptions import ConfigurationError

__all__ = ["requires_recent_auth"]

Endpoint = Callable[[Request], Awaitable[Response]]


def _session_of(request: Request) -> Session:
    session = request.scope.get("session")
    if not isinstance(session, Session):
        raise ConfigurationError(
            "middleware",
            "no sessionary session on this request: add sessionary.SessionMiddleware",
        )
    return session


def requires_recent_auth(
    max_age: float, *, reauth_url: str | None = None
) -> Callable[[Endpoint], Endpoint]:
    """Run the endpoint only if the visitor authenticated at most ``max_age`` seconds ago.

    Otherwise answer 401 (an API), or with ``reauth_url`` redirect (303)
    there with ``next=`` the current path.
    """

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            if auth.require_recent_auth(_session_of(request), max_age):
                return await endpoint(request)
            if reauth_url is None:
                return PlainTextResponse("Re-authentication required.", status_code=401)
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(auth.reauthentication_url(reauth_url, here), status_code=303)

        return guarded

    return decorate
