"""DBSC at the edges: request facts in, the endpoint answered or the binding enforced.

The ASGI and WSGI middlewares (and the Flask and Django integrations) call
:func:`before_app` once the session is open. It answers the registration
and refresh endpoints (the steps of ``endpoints``, run on the async or the
sync store API) or enforces the binding: a bound session whose request, in
scope, lacks a live bound cookie is replaced by an empty, unauthenticated
one. The long-lived cookie alone is never enough (no downgrade), and the
record is left alone (the browser that holds the key may refresh later).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from .. import _core
from .._lifecycle import Opened, Unavailable, commit_async, commit_sync
from .._ops import Steps, run_async, run_sync
from ..cookies import parse_cookie
from ..events import emit
from ..exceptions import SessionTooLarge, StoreError
from ._sfv import FieldError, Token, parse_list
from .binding import BINDING, cookie_accepted
from .endpoints import Facts, Reply, bound_cookie_name, endpoint_steps, in_scope

if TYPE_CHECKING:
    from .._config import SessionConfig

__all__ = [
    "SKIPPED_KEY",
    "answer_asgi",
    "answer_wsgi",
    "before_app",
    "enforce",
    "environ_path",
    "facts_from_environ",
    "facts_from_meta",
    "facts_from_scope",
    "involved",
    "record_skipped",
    "reply_sync",
    "skipped",
]

security_logger = logging.getLogger("sessionary.security")

SKIPPED_KEY = "sessionary.dbsc_skipped"
"""Where the edges put the parsed ``Secure-Session-Skipped`` entries
(``[(reason, session_identifier or None), ...]``): ``scope`` or ``environ``."""

WEBSOCKET = "WEBSOCKET"
_HEADERS = (
    "host",
    "secure-session-response",
    "sec-session-response",
    "sec-secure-session-id",
    "secure-session-skipped",
)
_ASGI_HEADERS = {name.encode("latin-1"): name for name in _HEADERS}
_WSGI_HEADERS = {"HTTP_" + name.upper().replace("-", "_"): name for name in _HEADERS}


def _facts(
    config: SessionConfig,
    method: str,
    path: str,
    secure: bool,
    headers: dict[str, str],
    cookies: Iterable[str | bytes],
) -> Facts:
    dbsc = config.dbsc
    host = headers.pop("host", "")
    name = bound_cookie_name(dbsc, secure) if dbsc is not None else ""
    return Facts(method, path, secure, host, headers, parse_cookie(cookies).get(name))


def involved(config: SessionConfig, opened: Opened, path: str) -> bool:
    """Whether DBSC has anything to do with this request: it names an endpoint,
    or its session is bound. Every other request costs only this test."""
    dbsc = config.dbsc
    return dbsc is not None and (
        path == dbsc.registration_path
        or path == dbsc.refresh_path
        or opened.session.get_meta(BINDING) is not None
    )


def environ_path(environ: Mapping[str, Any]) -> str:
    """The request path of a WSGI environ."""
    return (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"


def facts_from_scope(config: SessionConfig, scope: Mapping[str, Any]) -> Facts:
    """The DBSC facts of an ASGI HTTP request."""
    headers: dict[str, str] = {}
    cookies: list[bytes] = []
    for raw_name, value in scope["headers"]:
        if raw_name == b"cookie":
            cookies.append(value)
            continue
        name = _ASGI_HEADERS.get(raw_name)
        if name is not None:
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
    secure = scope.get("scheme") in ("https", "wss")
    # A WebSocket handshake is enforced like any request, never an endpoint.
    method = scope.get("method") or WEBSOCKET
    return _facts(config, method, scope["path"], secure, headers, cookies)


def facts_from_environ(config: SessionConfig, environ: Mapping[str, Any]) -> Facts:
    """The DBSC facts of a WSGI request."""
    secure = environ.get("wsgi.url_scheme") == "https"
    method = environ.get("REQUEST_METHOD", "GET")
    return facts_from_meta(config, environ, method, environ_path(environ), secure)


def facts_from_meta(
    config: SessionConfig, meta: Mapping[str, Any], method: str, path: str, secure: bool
) -> Facts:
    """The DBSC facts of a request whose headers are CGI-style ``HTTP_*`` entries
    (a WSGI environ, Django's ``request.META``)."""
    headers = {name: meta[key] for key, name in _WSGI_HEADERS.items() if key in meta}
    cookie = meta.get("HTTP_COOKIE")
    return _facts(config, method, path, secure, headers, (cookie,) if cookie else ())


def skipped(facts: Facts) -> list[tuple[str, str | None]]:
    """The ``Secure-Session-Skipped`` entries: (reason token, session identifier)."""
    raw = facts.headers.get("secure-session-skipped")
    if raw is None:
        return []
    try:
        members = parse_list(raw)
    except FieldError:
        return []
    entries = []
    for member in members:
        if isinstance(member.value, Token):
            sid = member.params.get("session_identifier")
            entries.append((member.value.value, sid if isinstance(sid, str) else None))
    return entries


def enforce(config: SessionConfig, opened: Opened, facts: Facts) -> Opened:
    """``opened``, or an empty unauthenticated session in its place when the
    session is bound and this in-scope request has no live bound cookie."""
    session = opened.session
    raw = session.get_meta(BINDING)
    dbsc = config.dbsc
    if raw is None or dbsc is None or not in_scope(dbsc, facts.path):
        return opened
    value = facts.bound_cookie
    if value is not None and cookie_accepted(raw, value, config.now(), dbsc.grace):
        return opened
    security_logger.info("a device-bound session came without a live bound cookie: refused")
    if config.event_hooks:
        emit(config.event_hooks, "dbsc_refused", config.store, session.session_key)
    client = opened.incoming.client
    # No cookie "came" with this request as far as the commit knows: the
    # bound session's cookie is neither re-sent nor deleted.
    incoming = _core.Incoming(None, False, client)
    blank = _core.open_session(config, incoming, None, type(session))
    return Opened(blank, incoming)


def before_app(
    config: SessionConfig, opened: Opened, facts: Facts, state: MutableMapping[str, Any]
) -> tuple[Opened, Steps[Reply] | None]:
    """The endpoint's steps when ``facts`` names one; else ``opened``, enforced.

    ``state`` (the ASGI scope, the WSGI environ, Django's ``META``) receives
    the parsed ``Secure-Session-Skipped`` entries.
    """
    record_skipped(state, facts)
    steps = None if facts.method == WEBSOCKET else endpoint_steps(config, opened.session, facts)
    if steps is not None:
        return opened, steps
    if config.event_hooks and "secure-session-skipped" in facts.headers:
        emit(config.event_hooks, "dbsc_skipped", config.store, opened.session.session_key)
    return enforce(config, opened, facts), None


def _unavailable(error: StoreError) -> Reply:
    return Reply(Unavailable.status, list(Unavailable.headers), Unavailable.body)


def _with_outcome(reply: Reply, headers: list[tuple[str, str]]) -> Reply:
    return Reply(reply.status, [*reply.headers, *headers], reply.body)


async def answer_asgi(
    config: SessionConfig, opened: Opened, steps: Steps[Reply], send: Any
) -> None:
    """Run an endpoint's steps on the async store API, commit, and send the reply."""
    try:
        reply = await run_async(config.store, steps, config.event_hooks)
    except StoreError as exc:
        reply = _unavailable(exc)
    else:
        try:
            outcome = await commit_async(config, opened, reply.status)
        except SessionTooLarge:  # pragma: no cover - a binding is a few hundred bytes
            outcome = None
        if outcome is not None and outcome.unavailable is not None:
            reply = _unavailable(outcome.unavailable.error)
        elif outcome is not None:
            reply = _with_outcome(reply, outcome.headers)
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in reply.headers],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})


def reply_sync(config: SessionConfig, steps: Steps[Reply]) -> Reply:
    """Run an endpoint's steps on the sync store API (a store fault: the 503 reply)."""
    try:
        return run_sync(config.store, steps, config.event_hooks)
    except StoreError as exc:
        return _unavailable(exc)


def answer_wsgi(
    config: SessionConfig, opened: Opened, steps: Steps[Reply], start_response: Any
) -> list[bytes]:
    """Run an endpoint's steps on the sync store API, commit, and start the reply."""
    reply = reply_sync(config, steps)
    if reply.status != Unavailable.status:
        outcome = commit_sync(config, opened, reply.status)
        if outcome.unavailable is not None:
            reply = _unavailable(outcome.unavailable.error)
        else:
            reply = _with_outcome(reply, outcome.headers)
    status = f"{reply.status} {reply.reason}"
    start_response(status, list(reply.headers))
    return [reply.body]


def record_skipped(state: MutableMapping[str, Any], facts: Facts) -> None:
    """Put the parsed ``Secure-Session-Skipped`` entries in the request state."""
    if "secure-session-skipped" in facts.headers:
        state[SKIPPED_KEY] = skipped(facts)
