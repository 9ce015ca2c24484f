"""``SessionMiddleware``: pure ASGI, a drop-in for Starlette's ``SessionMiddleware``.

Request state stays in locals; the store is read once when a session cookie
arrives (never otherwise) and written once, before ``http.response.start``
is forwarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import _core
from .config import SessionConfig
from .exceptions import CorruptRecord, StoreError
from .session import _load_one, _run_async

__all__ = ["SessionMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNAVAILABLE = b"Service Unavailable: the session store did not answer."


class SessionMiddleware:
    """Put a :class:`~sessionary.Session` at ``scope["session"]`` for every HTTP request."""

    def __init__(
        self, app: ASGIApp, /, config: SessionConfig | None = None, **options: Any
    ) -> None:
        """``config`` holds every setting; ``options`` build one when it is omitted."""
        self.app = app
        self.config = config if config is not None else SessionConfig(**options)
        self.store = self.config.store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        config = self.config
        cookies: list[bytes] = []
        user_agent = None
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies.append(value)
            elif name == b"user-agent":
                user_agent = value.decode("latin-1")
        client = scope.get("client")
        incoming = _core.read_request(config, cookies, user_agent, client[0] if client else None)

        record = None
        degraded = False
        if incoming.key is not None:
            try:
                record = await _run_async(self.store, _load_one(incoming.key), config.event_hooks)
            except CorruptRecord:
                _core.security_logger.warning("a corrupted session record was ignored")
            except StoreError:
                if config.on_store_error == "fail" or kind != "http":
                    _core.logger.exception("session store failed on load")
                    await self._unavailable(kind, send)
                    return
                _core.logger.warning("session store failed on load; serving a blank session")
                degraded = True
        session = _core.open_session(config, incoming, record)
        if degraded:
            session._persist = False
        scope["session"] = session
        if kind == "websocket":
            # No response to hook: the handler saves with ``await session.save()``.
            await self.app(scope, receive, send)
            return

        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                try:
                    await _run_async(
                        self.store,
                        session._commit_steps(save=message["status"] < 500),
                        config.event_hooks,
                    )
                except StoreError:
                    if config.on_store_error == "fail":
                        _core.logger.exception("session store failed on save")
                        replaced = True
                        await self._unavailable("http", send)
                        return
                    _core.logger.warning("session store failed on save; session not kept")
                    session._saved = False
                headers = message.setdefault("headers", [])
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers)
                _add_headers(headers, _core.response_headers(config, session, incoming))
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.store.aclose()
            await send(message)

        return lifespan_send

    @staticmethod
    async def _unavailable(kind: str, send: Send) -> None:
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1011})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_UNAVAILABLE)).encode()),
                    (b"retry-after", b"5"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _UNAVAILABLE})


def _add_headers(headers: list[Any], extra: list[tuple[str, str]]) -> None:
    for name, value in extra:
        if name == "vary":
            for i, (existing_name, existing) in enumerate(headers):
                if existing_name.lower() == b"vary":
                    merged = _core.merge_vary(existing.decode("latin-1"))
                    headers[i] = (existing_name, merged.encode("latin-1"))
                    break
            else:
                headers.append((b"vary", b"Cookie"))
        else:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
