"""Jinja2 context processors that put ``session`` and ``messages`` in every template.

Starlette / FastAPI::

    templates = Jinja2Templates("templates", context_processors=[session_context])

Flask::

    app.context_processor(flask_session_context)

``messages`` is the request's message storage: ``{% for m in messages %}``
shows each pending message once. Nothing is read from the store until the
template touches ``session`` or ``messages``.
"""

from __future__ import annotations

from typing import Any

from . import messages as _messages

__all__ = ["flask_session_context", "session_context"]


def session_context(request: Any) -> dict[str, Any]:
    """For Starlette's ``Jinja2Templates(context_processors=[...])``: takes the request."""
    return {"session": request.session, "messages": _messages.get_messages(request)}


def flask_session_context() -> dict[str, Any]:
    """For Flask's ``app.context_processor``: reads the request context."""
    from flask import request, session

    return {"session": session, "messages": _messages.get_messages(request)}
