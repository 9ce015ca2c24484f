"""``WSGISessionMiddleware``: the WSGI twin, a thin translation onto the same lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from . import _core, _lifecycle
from .config import SessionConfig

__all__ = ["WSGISessionMiddleware"]

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ENVIRON_KEY = "sessionary.session"


class WSGISessionMiddleware:
    """Put a :class:`~sessionary.Session` at ``environ["sessionary.session"]``."""

    def __init__(self, app: WSGIApp, config: SessionConfig | None = None, **options: Any) -> None:
        self.app = app
        self.config = config if config is not None else SessionConfig(**options)
        self.store = self.config.store

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        config = self.config
        opened = _lifecycle.open_sync(config, incoming_from_environ(config, environ))
        if opened.unavailable is not None:
            return _refuse(opened.unavailable, start_response)
        environ[ENVIRON_KEY] = opened.session
        started = False
        refused: _lifecycle.Unavailable | None = None

        def session_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal started, refused
            started = True
            outcome = _lifecycle.commit_sync(config, opened, int(status[:3]))
            if outcome.unavailable is not None:
                refused = outcome.unavailable
                return _refuse_start(refused, start_response, exc_info)
            for name, value in outcome.headers:
                if name == "vary":
                    _merge_vary(headers, value)
                else:
                    headers.append((name, value))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, session_start_response)
        except BaseException:
            if not started:
                # No response will carry the session, but a flush or cycle_key
                # that already happened must still end the old record.
                _lifecycle.commit_sync(config, opened, None)
            raise
        if refused is not None:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return [refused.body]
        return body


def incoming_from_environ(config: SessionConfig, environ: Environ) -> _core.Incoming:
    """What a WSGI request carried, by the configured transport."""
    cookie = environ.get("HTTP_COOKIE")
    return _core.read_request(
        config,
        (cookie,) if cookie else (),
        environ.get("HTTP_USER_AGENT"),
        environ.get("REMOTE_ADDR"),
        token=environ.get("HTTP_" + config.header_name.upper().replace("-", "_")),
        query_string=environ.get("QUERY_STRING", ""),
        secure=environ.get("wsgi.url_scheme") == "https",
    )


def _refuse(unavailable: _lifecycle.Unavailable, start_response: StartResponse) -> list[bytes]:
    _refuse_start(unavailable, start_response, None)
    return [unavailable.body]


def _refuse_start(
    unavailable: _lifecycle.Unavailable, start_response: StartResponse, exc_info: ExcInfo | None
) -> Callable[[bytes], object]:
    status = f"{unavailable.status} {unavailable.reason}"
    return start_response(status, list(unavailable.headers), exc_info)


def _merge_vary(headers: list[tuple[str, str]], field: str) -> None:
    for i, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            headers[i] = (name, _core.merge_vary(value, field))
            return
    headers.append(("Vary", field))
