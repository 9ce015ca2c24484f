"""``SessionMiddleware``: pure ASGI, a drop-in for Starlette's ``SessionMiddleware``.

A thin translation of ASGI onto the request lifecycle (``_lifecycle``):
request state stays in locals; the store is read once when a session cookie
arrives (never otherwise) and written once, before ``http.response.start``
is forwarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import _core, _lifecycle, _revocation
from ._config import SessionConfig, from_starlette_options
from .exceptions import SessionTooLarge

__all__ = ["SessionMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SessionMiddleware:
    """Put a :class:`~sessionary.Session` at ``scope["session"]`` for every HTTP request."""

    def __init__(
        self, app: ASGIApp, /, config: SessionConfig | None = None, **options: Any
    ) -> None:
        """``config`` holds every setting; without it, ``options`` build one.

        ``options`` speak Starlette's dialect, so that this class replaces
        Starlette's ``SessionMiddleware`` unchanged: its keyword arguments
        (``secret_key``, ``session_cookie``, ``max_age``, ``path``,
        ``same_site``, ``https_only``, ``domain``, ``partitioned``) and its
        cookie name ``session``, beside any :class:`SessionConfig` field.
        """
        if config is not None and options:
            raise TypeError(f"pass either a config or options, not both ({', '.join(options)})")
        self.app = app
        self.config = config if config is not None else from_starlette_options(options)
        self.store = self.config.store
        self._token_header = self.config.header_name.lower().encode("latin-1")
        self._url_transport = self.config.transport == "url"
        self._dbsc = self.config.dbsc is not None
        # A store that never waits (memory, cookie) is run on its sync API:
        # no coroutine, no runner frame per request.
        self._inline = self.store.inline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            if kind == "lifespan":
                send = self._lifespan_send(send)
            await self.app(scope, receive, send)
            return

        config = self.config
        incoming = self._incoming(scope)
        if incoming.key is None:
            # Nothing to load: no store runner, no coroutine.
            opened = _lifecycle.open_keyless(config, incoming)
        elif self._inline:
            opened = _lifecycle.open_sync(config, incoming, degrade=kind == "http")
        else:
            opened = await _lifecycle.open_async(config, incoming, degrade=kind == "http")
            if opened.unavailable is not None:
                await _refuse(kind, opened.unavailable, send)
                return
        if self._dbsc:
            from ._dbsc import edges

            if edges.involved(config, opened, scope["path"]):
                facts = edges.facts_from_scope(config, scope)
                opened, steps = edges.before_app(config, opened, facts, scope)
                if steps is not None:
                    await edges.answer_asgi(config, opened, steps, send)
                    return
        scope["session"] = opened.session
        if kind == "websocket":
            # No response to hook: the handler saves with ``await session.save()``.
            # Open, the socket is closed when its session is revoked.
            await _revocation.serve_websocket(
                config, opened.session, self.app, scope, receive, send
            )
            return

        started = refused = False
        inline = self._inline

        async def send_wrapper(message: Message) -> None:
            nonlocal started, refused
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
                if not _lifecycle.needs_commit(config, opened):
                    # A request that brought no session and never touched it.
                    await send(message)
                    return
                if inline:
                    outcome = _lifecycle.commit_sync(config, opened, message["status"])
                else:
                    try:
                        outcome = await _lifecycle.commit_async(config, opened, message["status"])
                    except SessionTooLarge as exc:
                        outcome = _lifecycle.too_large_outcome(config, opened, exc)
                if outcome.unavailable is not None:
                    refused = True
                    await _refuse("http", outcome.unavailable, send)
                    return
                _add_headers(message, outcome.headers)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException:
            if not started and _lifecycle.needs_commit(config, opened):
                # No response will carry the session, but a flush or cycle_key
                # that already happened must still end the old record.
                await _lifecycle.commit_async(config, opened, None)
            raise

    def _incoming(self, scope: Scope) -> _core.Incoming:
        cookies: list[bytes] = []
        user_agent = token = None
        token_header = self._token_header
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies.append(value)
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
            elif name == token_header:
                token = value.decode("latin-1")
        client = scope.get("client")
        url = self._url_transport  # only the URL transport reads the query and the scheme
        return _core.read_request(
            self.config,
            cookies,
            user_agent,
            client[0] if client else None,
            token=token,
            query_string=scope.get("query_string", b"").decode("latin-1") if url else "",
            secure=url and scope.get("scheme") in ("https", "wss"),
        )

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                # Start-up goes on either way: requests meet the store-error policy.
                await _lifecycle.check_async(self.config)
            elif message["type"] == "lifespan.shutdown.complete":
                await self.store.aclose()
            await send(message)

        return lifespan_send


async def _refuse(kind: str, unavailable: _lifecycle.Unavailable, send: Send) -> None:
    if kind == "websocket":
        await send({"type": "websocket.close", "code": 1011})
        return
    await send(
        {
            "type": "http.response.start",
            "status": unavailable.status,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in unavailable.headers
            ],
        }
    )
    await send({"type": "http.response.body", "body": unavailable.body})


def _add_headers(message: Message, extra: list[tuple[str, str]]) -> None:
    if not extra:
        return
    headers = message.setdefault("headers", [])
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers)
    for name, value in extra:
        if name == "vary":
            for i, (existing_name, existing) in enumerate(headers):
                if existing_name.lower() == b"vary":
                    merged = _core.merge_vary(existing.decode("latin-1"), value)
                    headers[i] = (existing_name, merged.encode("latin-1"))
                    break
            else:
                headers.append((b"vary", value.encode("latin-1")))
        else:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
