"""FastAPI: ``SessionDep``, the request's session as a dependency.

::

    from sessionary.integrations.fastapi import SessionDep

    @app.get("/visits")
    async def visits(session: SessionDep) -> dict[str, int]:
        session["visits"] = session.get("visits", 0) + 1
        return {"visits": session["visits"]}

The session comes from :class:`sessionary.SessionMiddleware`
(``app.add_middleware(SessionMiddleware, config=config)``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from .. import auth
from .._session import Session
from ..exceptions import ConfigurationError

__all__ = ["RecentAuth", "SessionDep", "get_session"]


def get_session(connection: HTTPConnection) -> Session:
    """The request's (or websocket's) :class:`~sessionary.Session`."""
    session = connection.scope.get("session")
    if not isinstance(session, Session):
        raise ConfigurationError(
            "middleware",
            "no sessionary session on this request: add "
            "app.add_middleware(sessionary.SessionMiddleware, config=...)",
        )
    return session


SessionDep = Annotated[Session, Depends(get_session)]
"""A path-operation parameter typed ``SessionDep`` receives the session."""


class RecentAuth:
    """A dependency that lets the request through only after a recent authentication.

    ::

        @app.post("/password", dependencies=[Depends(RecentAuth(300))])

    When the last login or re-authentication is older than ``max_age``
    seconds, it answers 401 (an API), or with ``reauth_url`` redirects (303)
    there with ``next=`` the current path.
    """

    def __init__(self, max_age: float, *, reauth_url: str | None = None) -> None:
        self.max_age = max_age
        self.reauth_url = reauth_url

    def __call__(self, connection: HTTPConnection) -> None:
        if auth.require_recent_auth(get_session(connection), self.max_age):
            return
        if self.reauth_url is None:
            raise HTTPException(401, "Re-authentication required.")
        url = connection.url
        here = url.path + (f"?{url.query}" if url.query else "")
        location = auth.reauthentication_url(self.reauth_url, here)
        raise HTTPException(303, "Re-authentication required.", headers={"Location": location})
