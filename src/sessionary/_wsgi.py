"""``WSGISessionMiddleware``: the WSGI twin, a thin translation onto the same lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import _core, _lifecycle
from ._config import SessionConfig

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
        if config is not None and options:
            raise TypeError(f"pass either a config or options, not both ({', '.join(options)})")
        # Without a config: the options, then SESSIONARY_* for what they leave out.
        self.config = config if config is not None else SessionConfig.from_env(**options)
        self.store = self.config.store
        self._token_key = _environ_key(self.config.header_name)
        self._dbsc = self.config.dbsc is not None

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        config = self.config
        incoming = incoming_from_environ(config, environ, self._token_key)
        if incoming.key is None:
            opened = _lifecycle.open_keyless(config, incoming)  # nothing to load
        else:
            opened = _lifecycle.open_sync(config, incoming)
            if opened.unavailable is not None:
                return _refuse(opened.unavailable, start_response)
        environ[ENVIRON_KEY] = opened.session
        if self._dbsc:
            from ._dbsc import edges

            if edges.involved(config, opened, edges.environ_path(environ)):
                facts = edges.facts_from_environ(config, environ)
                opened, steps = edges.before_app(config, opened, facts, environ)
                if steps is not None:
                    return edges.answer_wsgi(config, opened, steps, start_response)
                environ[ENVIRON_KEY] = opened.session
        response = _Response()

        def session_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            response.started = True
            if not _lifecycle.needs_commit(config, opened):
                # A request that brought no session and never touched it.
                return start_response(status, headers, exc_info)
            outcome = _lifecycle.commit_sync(config, opened, int(status[:3]))
            if outcome.unavailable is not None:
                response.refused = outcome.unavailable
                return _refuse_start(outcome.unavailable, start_response, exc_info)
            for name, value in outcome.headers:
                if name == "vary":
                    _merge_vary(headers, value)
                else:
                    headers.append((name, value))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, session_start_response)
        except BaseException:
            if not response.started:
                # No response will carry the session, but a flush or cycle_key
                # that already happened must still end the old record.
                _lifecycle.commit_sync(config, opened, None)
            raise
        if response.refused is not None:
            _close(body)
            return [response.refused.body]
        if response.started:
            return body

        def started_lazily() -> Iterator[bytes]:
            # The app calls start_response on its first iteration (a
            # generator): the same rules apply then.
            try:
                for chunk in body:
                    if response.refused is not None:
                        yield response.refused.body
                        return
                    yield chunk
            except BaseException:
                if not response.started:
                    _lifecycle.commit_sync(config, opened, None)
                raise
            finally:
                _close(body)

        return started_lazily()


def _environ_key(header_name: str) -> str:
    return "HTTP_" + header_name.upper().replace("-", "_")


def incoming_from_environ(
    config: SessionConfig, environ: Environ, token_key: str | None = None
) -> _core.Incoming:
    """What a WSGI request carried, by the configured transport.

    ``token_key`` is the environ key of ``config.header_name`` (worked out
    when omitted).
    """
    cookie = environ.get("HTTP_COOKIE")
    return _core.read_request(
        config,
        (cookie,) if cookie else (),
        environ.get("HTTP_USER_AGENT"),
        environ.get("REMOTE_ADDR"),
        token=environ.get(token_key or _environ_key(config.header_name)),
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


@dataclass(slots=True)
class _Response:
    """How far the app got with its response."""

    started: bool = False
    refused: _lifecycle.Unavailable | None = None


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _merge_vary(headers: list[tuple[str, str]], field: str) -> None:
    for i, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            headers[i] = (name, _core.merge_vary(value, field))
            return
    headers.append(("Vary", field))
