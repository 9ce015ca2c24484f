"""Flask: a ``SessionInterface`` that makes ``flask.session`` a sessionary session.

::

    from sessionary.integrations.flask import init_app

    init_app(app, SessionConfig(store="sqlite:///sessionary.db"))

Flask's ``session.permanent`` maps onto sessionary's expiry: a non-permanent
session has a browser-session cookie, a permanent one lives ``cookie_age``
seconds (re-applied on every save). New sessions are non-permanent, as in
Flask, unless the interface is built with ``permanent=True``.
``session.new`` is true until the session has a stored record;
``session.modified`` is sessionary's (in-place changes to nested values are
noticed). The store is used through its sync path, and the request
lifecycle is the WSGI middleware's own (``sessionary._lifecycle``). Flask's ``SESSION_COOKIE_*`` and
``PERMANENT_SESSION_LIFETIME`` settings are not read: the
:class:`~sessionary.SessionConfig` decides the cookie and its age.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Flask, Request, Response
from flask.sessions import SessionInterface
from werkzeug.exceptions import ServiceUnavailable

from .. import _core, _lifecycle
from ..config import SessionConfig
from ..exceptions import ConfigurationError
from ..messages.middleware import STORAGE_KEY
from ..messages.storage import BaseStorage
from ..session import Session
from ..wsgi import ENVIRON_KEY

__all__ = ["FlaskSession", "SessionaryInterface", "init_app"]

# The opened lifecycle of the request, kept beside the session for save_session.
OPENED_KEY = "sessionary.opened"


class FlaskSession(Session):
    """A :class:`~sessionary.Session` with Flask's ``permanent`` and ``new``."""

    __slots__ = ("new",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes :class:`~sessionary.Session`'s arguments."""
        super().__init__(*args, **kwargs)
        self.new = self.record is None

    @property
    def permanent(self) -> bool:
        """Whether the cookie outlives the browser session (Flask's flag)."""
        return not self.get_expire_at_browser_close()

    @permanent.setter
    def permanent(self, value: bool) -> None:
        value = bool(value)
        if value == self.permanent:
            return  # setting it on every request must not force a save
        by_policy = not self.config.expire_at_browser_close
        if value == by_policy:
            self.set_expiry(None)
        else:
            self.set_expiry(self.config.cookie_age if value else 0)


class SessionaryInterface(SessionInterface):
    """Flask's session interface over a sessionary store."""

    def __init__(self, config: SessionConfig, *, permanent: bool = False) -> None:
        """``permanent`` is what a new session's ``permanent`` is (Flask: ``False``).

        It decides ``expire_at_browser_close``; a config asking for
        browser-close cookies cannot also make sessions permanent by default.
        """
        if permanent and config.expire_at_browser_close:
            raise ConfigurationError(
                "expire_at_browser_close",
                "contradicts permanent=True: new sessions cannot be both",
            )
        self.config = config.replace(expire_at_browser_close=not permanent)

    def open_session(self, app: Flask, request: Request) -> FlaskSession:  # type: ignore[override]
        config = self.config
        incoming = _core.read_request(
            config,
            request.headers.getlist("Cookie"),
            request.headers.get("User-Agent"),
            request.remote_addr,
        )
        opened = _lifecycle.open_sync(config, incoming, FlaskSession)
        # On a store failure (on_store_error="fail") init_app's hook answers
        # 503 before the view runs; the blank session is never saved.
        request.environ[OPENED_KEY] = opened
        request.environ[ENVIRON_KEY] = opened.session
        return cast("FlaskSession", opened.session)

    def save_session(  # type: ignore[override]
        self, app: Flask, session: FlaskSession, response: Response
    ) -> None:
        from flask import request

        opened = request.environ.get(OPENED_KEY)
        if not isinstance(opened, _lifecycle.Opened) or opened.unavailable is not None:
            return
        storage = _request_storage()
        if storage is not None:
            # Messages that overflow their cookie must reach the session before it is saved.
            storage.update()
        outcome = _lifecycle.commit_sync(self.config, opened, response.status_code)
        if outcome.unavailable is not None:
            response.status_code = outcome.unavailable.status
            response.set_data(outcome.unavailable.body)
            for name, value in outcome.unavailable.headers:
                if name != "Content-Length":  # set_data keeps it right
                    response.headers[name] = value
            return
        for name, value in outcome.headers:
            if name == "vary":
                response.vary.add(value)
            else:
                response.headers.add(name, value)

    def is_null_session(self, obj: object) -> bool:
        return not isinstance(obj, FlaskSession) or super().is_null_session(obj)


def _request_storage() -> BaseStorage | None:
    from flask import request

    storage = request.environ.get(STORAGE_KEY)
    return storage if isinstance(storage, BaseStorage) else None


def _refuse_if_unavailable() -> None:
    from flask import request

    # Read through environ: touching flask.session would mark it accessed.
    opened = request.environ.get(OPENED_KEY)
    if isinstance(opened, _lifecycle.Opened) and opened.unavailable is not None:
        raise ServiceUnavailable(opened.unavailable.body.decode(), retry_after=5)


def init_app(
    app: Flask, config: SessionConfig | None = None, *, permanent: bool = False
) -> SessionaryInterface:
    """Install sessionary as ``app``'s session interface and return it.

    Without ``config``, it comes from ``SESSIONARY_*`` environment variables.
    A store outage answers 503 before the view runs (``on_store_error="fail"``).
    """
    interface = SessionaryInterface(config or SessionConfig.from_env(), permanent=permanent)
    app.session_interface = interface
    app.before_request(_refuse_if_unavailable)
    return interface
