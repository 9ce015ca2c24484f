"""``MessagesMiddleware`` (ASGI) and ``WSGIMessagesMiddleware``: needed only for the
cookie and fallback storages, which must send a cookie with the response.

Place it inside the session middleware (the session middleware wraps it), so
messages that overflow into the session are written before the session is
saved. The storage is built per request and kept in ``scope`` / ``environ``
under ``"sessionary.messages"``, where :func:`sessionary.messages.get_messages`
finds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from ..cookies import parse_cookie
from ..exceptions import ConfigurationError
from .constants import DEFAULT_LEVEL
from .storage import BaseStorage, CookieSettings, CookieStorage, FallbackStorage, SessionStorage

__all__ = ["STORAGE_KEY", "MessagesMiddleware", "WSGIMessagesMiddleware"]

STORAGE_KEY = "sessionary.messages"
StorageKind = Literal["session", "cookie", "fallback"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Factory:
    """Builds one request's storage from its session and its messages cookie."""

    kind: StorageKind
    level: int
    cookie: CookieSettings | None

    @classmethod
    def build(
        cls, storage: StorageKind, level: int, secret_key: str | None, options: dict[str, Any]
    ) -> _Factory:
        if storage not in ("session", "cookie", "fallback"):
            raise ConfigurationError(
                "storage", f"{storage!r} is not 'session', 'cookie' or 'fallback'"
            )
        cookie = None
        if storage != "session":
            if not secret_key:
                raise ConfigurationError("secret_key", f"the {storage} storage signs a cookie")
            cookie = CookieSettings(secret_key=secret_key, **options)
        return cls(storage, level, cookie)

    def storage(
        self, session: MutableMapping[str, Any] | None, cookie_headers: Iterable[str | bytes]
    ) -> BaseStorage:
        if self.cookie is None:
            return SessionStorage(_need(session), self.level)
        incoming = parse_cookie(cookie_headers).get(self.cookie.cookie_name)
        cookie = CookieStorage(self.cookie, incoming, self.level)
        if self.kind == "cookie":
            return cookie
        return FallbackStorage(cookie, SessionStorage(_need(session), self.level), self.level)


def _need(session: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
    if session is None:
        raise RuntimeError(
            "the session messages storage needs a session: put SessionMiddleware "
            "outside MessagesMiddleware"
        )
    return session


class _LazySession(MutableMapping[str, Any]):
    """The request's session, looked up only when a message needs it."""

    def __init__(self, holder: MutableMapping[str, Any], key: str) -> None:
        self._holder = holder
        self._key = key

    def _session(self) -> MutableMapping[str, Any]:
        return _need(self._holder.get(self._key))

    def __getitem__(self, name: str) -> Any:
        return self._session()[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._session()[name] = value

    def __delitem__(self, name: str) -> None:
        del self._session()[name]

    def __iter__(self) -> Any:
        return iter(self._session())

    def __len__(self) -> int:
        return len(self._session())


class MessagesMiddleware:
    """Pure ASGI: a messages storage per request, its cookie sent with the response."""

    def __init__(
        self,
        app: ASGIApp,
        /,
        *,
        storage: StorageKind = "fallback",
        secret_key: str | None = None,
        level: int = DEFAULT_LEVEL,
        **cookie_options: Any,
    ) -> None:
        """``cookie_options`` are :class:`CookieSettings` fields (``cookie_secure``...)."""
        self.app = app
        self.factory = _Factory.build(storage, level, secret_key, cookie_options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = [value for name, value in scope["headers"] if name == b"cookie"]
        storage = self.factory.storage(_LazySession(scope, "session"), cookies)
        scope[STORAGE_KEY] = storage

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                storage.update()
                header = _cookie_header(storage)
                if header is not None:
                    headers = message.setdefault("headers", [])
                    if not isinstance(headers, list):
                        headers = message["headers"] = list(headers)
                    headers.append((b"set-cookie", header.encode("latin-1")))
            await send(message)

        await self.app(scope, receive, send_wrapper)


class WSGIMessagesMiddleware:
    """The WSGI twin (Flask: ``app.wsgi_app = WSGIMessagesMiddleware(app.wsgi_app, ...)``)."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        storage: StorageKind = "fallback",
        secret_key: str | None = None,
        level: int = DEFAULT_LEVEL,
        session_key: str = "sessionary.session",
        **cookie_options: Any,
    ) -> None:
        """``session_key`` names the environ entry holding the session."""
        self.app = app
        self.session_key = session_key
        self.factory = _Factory.build(storage, level, secret_key, cookie_options)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        cookie = environ.get("HTTP_COOKIE")
        storage = self.factory.storage(
            _LazySession(environ, self.session_key), (cookie,) if cookie else ()
        )
        environ[STORAGE_KEY] = storage

        def messages_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            storage.update()
            header = _cookie_header(storage)
            if header is not None:
                headers.append(("Set-Cookie", header))
            return start_response(status, headers, exc_info)

        return self.app(environ, messages_start_response)


def _cookie_header(storage: BaseStorage) -> str | None:
    if isinstance(storage, CookieStorage | FallbackStorage):
        return storage.set_cookie_header()
    return None
