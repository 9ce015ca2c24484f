"""``WSGISessionMiddleware``: the WSGI twin, over the same sans-I/O core."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from . import _core
from .config import SessionConfig
from .exceptions import CorruptRecord, StoreError
from .session import Session, _load_one, _run_sync

__all__ = ["WSGISessionMiddleware", "commit_sync", "open_sync"]

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ENVIRON_KEY = "sessionary.session"
_UNAVAILABLE = b"Service Unavailable: the session store did not answer."
_UNAVAILABLE_HEADERS = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", str(len(_UNAVAILABLE))),
    ("Retry-After", "5"),
]


class WSGISessionMiddleware:
    """Put a :class:`~sessionary.Session` at ``environ["sessionary.session"]``."""

    def __init__(self, app: WSGIApp, config: SessionConfig | None = None, **options: Any) -> None:
        self.app = app
        self.config = config if config is not None else SessionConfig(**options)
        self.store = self.config.store

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        config = self.config
        cookie = environ.get("HTTP_COOKIE")
        incoming = _core.read_request(
            config,
            (cookie,) if cookie else (),
            environ.get("HTTP_USER_AGENT"),
            environ.get("REMOTE_ADDR"),
        )
        session = open_sync(config, incoming)
        if session is None:
            start_response("503 Service Unavailable", list(_UNAVAILABLE_HEADERS))
            return [_UNAVAILABLE]
        environ[ENVIRON_KEY] = session
        failed = False

        def session_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal failed
            extra = commit_sync(config, session, incoming, int(status[:3]))
            if extra is None:
                failed = True
                return start_response(
                    "503 Service Unavailable", list(_UNAVAILABLE_HEADERS), exc_info
                )
            for name, value in extra:
                if name == "vary":
                    _merge_vary(headers)
                else:
                    headers.append(("Set-Cookie", value))
            return start_response(status, headers, exc_info)

        body = self.app(environ, session_start_response)
        if failed:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return [_UNAVAILABLE]
        return body


def open_sync(
    config: SessionConfig, incoming: _core.Incoming, session_class: type[Session] | None = None
) -> Session | None:
    """Load and open the request's session on the sync store path.

    Returns ``None`` when the store failed and ``on_store_error`` is
    ``"fail"`` (the caller answers 503); with ``"degrade"`` the session is
    blank and will not be saved.
    """
    record = None
    degraded = False
    if incoming.key is not None:
        try:
            record = _run_sync(config.store, _load_one(incoming.key), config.event_hooks)
        except CorruptRecord:
            _core.security_logger.warning("a corrupted session record was ignored")
        except StoreError:
            if config.on_store_error == "fail":
                _core.logger.exception("session store failed on load")
                return None
            _core.logger.warning("session store failed on load; serving a blank session")
            degraded = True
    session = _core.open_session(config, incoming, record, session_class)
    if degraded:
        session._persist = False
    return session


def commit_sync(
    config: SessionConfig, session: Session, incoming: _core.Incoming, status: int
) -> list[tuple[str, str]] | None:
    """Commit the session for a response of ``status``; return the headers to add.

    Returns ``None`` when the store failed and ``on_store_error`` is ``"fail"``
    (the caller answers 503).
    """
    try:
        _run_sync(config.store, session._commit_steps(save=status < 500), config.event_hooks)
    except StoreError:
        if config.on_store_error == "fail":
            _core.logger.exception("session store failed on save")
            return None
        _core.logger.warning("session store failed on save; session not kept")
        session._saved = False
    return _core.response_headers(config, session, incoming)


def _merge_vary(headers: list[tuple[str, str]]) -> None:
    for i, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            headers[i] = (name, _core.merge_vary(value))
            return
    headers.append(("Vary", "Cookie"))
