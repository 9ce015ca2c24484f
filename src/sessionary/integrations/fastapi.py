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

from fastapi import Depends
from starlette.requests import HTTPConnection

from .._session import Session
from ..exceptions import ConfigurationError

__all__ = ["SessionDep", "get_session"]


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
