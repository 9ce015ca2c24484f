"""Helpers for the URL transport: put the session key into links and redirects.

With ``SessionConfig(transport="url")`` the key travels as a query
parameter (``config.url_param``, default ``sid``). This is less safe than
cookies: URLs leak through logs, history, bookmarks and shared links. That is
why it is opt-in, refused over plain HTTP unless ``url_allow_insecure`` is
set, and why responses carry ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._session import Session

__all__ = ["url_for_session"]


def url_for_session(url: str, session: Session) -> str:
    """Return ``url`` carrying the session's key (or without one, once it is flushed)."""
    param = session.config.url_param
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    if session.session_key is not None:
        query.append((param, session.session_key))
    return urlunsplit(parts._replace(query=urlencode(query)))
