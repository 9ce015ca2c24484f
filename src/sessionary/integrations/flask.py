"""Flask: a ``SessionInterface`` that makes ``flask.session`` a sessionary session.

::

    from sessionary.integrations.flask import init_app

    init_app(app, SessionConfig(store="sqlite:///sessionary.db"))

It speaks Flask's dialect over the one request lifecycle (``sessionary._lifecycle``):

- Flask's settings apply wherever the :class:`~sessionary.SessionConfig`
  leaves the field at its default, read per app and per request (so a test
  that changes ``app.config`` is obeyed): ``SESSION_COOKIE_NAME``,
  ``_DOMAIN``, ``_PATH`` (else ``APPLICATION_ROOT``), ``_SECURE``,
  ``_HTTPONLY``, ``_SAMESITE``, ``_PARTITIONED``, and
  ``PERMANENT_SESSION_LIFETIME`` as ``cookie_age``. They are read through
  the interface's ``get_cookie_*`` methods, as Flask's own interface does.
- ``session.permanent``: a non-permanent session (Flask's default for a new
  one) has a browser-session cookie; a permanent one lives
  ``PERMANENT_SESSION_LIFETIME``, re-applied on every save, and with
  ``SESSION_REFRESH_EACH_REQUEST`` (Flask's default) every response extends
  it and sends the cookie again.
- Values round-trip as Flask's tagged JSON (``flask.json.tag``): ``bytes``,
  ``tuple``, ``Markup``, ``UUID``, ``datetime``, and dicts whose keys look
  like tags. Still no pickle.
- ``accessed`` and ``modified`` are Flask's: any use of ``flask.session``
  marks it accessed (``Vary: Cookie``), and ``modified`` stays true after the
  response for a request that changed the session. Changes made in
  ``after_request`` functions are saved (the commit runs after them).
- Every transport (``cookie``, ``header``, ``url``) works as on the WSGI
  middleware.

Where Flask and sessionary differ on purpose (``SECRET_KEY`` plays no part:
the cookie holds a random key, not signed data), see
``docs/integrations/flask.md``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask
from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface
from werkzeug.exceptions import ServiceUnavailable

from .. import _lifecycle, auth
from .._config import SessionConfig
from .._session import Session
from .._wsgi import ENVIRON_KEY, incoming_from_environ
from ..exceptions import ConfigurationError
from ..messages.middleware import STORAGE_KEY
from ..messages.storage import BaseStorage

__all__ = ["FlaskSession", "SessionaryInterface", "init_app", "requires_recent_auth"]

# The opened lifecycle of the request, kept beside the session for save_session.
OPENED_KEY = "sessionary.opened"

# SessionConfig fields that Flask's settings supply when the config leaves them at their default.
_FLASK_FIELDS = (
    "cookie_name",
    "cookie_domain",
    "cookie_path",
    "cookie_secure",
    "cookie_httponly",
    "cookie_samesite",
    "cookie_partitioned",
    "cookie_age",
)
_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(SessionConfig) if f.name in _FLASK_FIELDS
}
# Per-request configs are cached by the values of Flask's settings; they rarely change.
_MAX_CONFIGS = 16

_tagged = TaggedJSONSerializer()
_MISSING: Any = object()


def _encode_tagged(value: Any) -> str:
    return _tagged.dumps(value)


def _decode_tagged(text: str | bytes) -> Any:
    return _tagged.loads(text if isinstance(text, str) else text.decode("utf-8"))


class FlaskSession(Session):
    """A :class:`~sessionary.Session` with Flask's ``permanent``, ``new`` and tagged values."""

    __slots__ = ("_changed", "new")

    encode_value = staticmethod(_encode_tagged)
    decode_value = staticmethod(_decode_tagged)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes :class:`~sessionary.Session`'s arguments."""
        super().__init__(*args, **kwargs)
        self.new = self.record is None
        self._changed = False

    @property
    def modified(self) -> bool:
        """Whether this request changed the session (still true once it is saved)."""
        return self._changed or cast("bool", Session.modified.fget(self))  # type: ignore[attr-defined]

    @modified.setter
    def modified(self, value: bool) -> None:
        Session.modified.fset(self, value)  # type: ignore[attr-defined]
        if not value:
            self._changed = False

    def remember_change(self, changed: bool) -> None:
        """Keep Flask's ``modified`` for the rest of the request, after the commit."""
        self._changed = changed

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        value = super().pop(name) if default is _MISSING else super().pop(name, default)
        # Flask's session marks itself modified on every pop that returns,
        # even of a missing key with a default (werkzeug's CallbackDict).
        self._changed = True
        return value

    def has_data(self) -> bool:
        """Whether any value is stored, without marking the session accessed."""
        accessed = self.accessed
        try:
            return len(self) > 0
        finally:
            self.accessed = accessed

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
        # The fields Flask's settings may fill: those the config left at their default.
        self._from_flask = tuple(f for f in _FLASK_FIELDS if getattr(config, f) == _DEFAULTS[f])
        self._configs: dict[tuple[Any, ...], SessionConfig] = {}

    def config_for(self, app: Flask) -> SessionConfig:
        """The config for a request of ``app``: this interface's, with Flask's settings."""
        flask_values = (
            self.get_cookie_name(app),
            self.get_cookie_domain(app) or None,
            self.get_cookie_path(app) or "/",
            bool(self.get_cookie_secure(app)),
            bool(self.get_cookie_httponly(app)),
            self.get_cookie_samesite(app),
            bool(self.get_cookie_partitioned(app)),
            int(app.permanent_session_lifetime.total_seconds()),
        )
        config = self._configs.get(flask_values)
        if config is None:
            changes = dict(zip(_FLASK_FIELDS, flask_values, strict=True))
            # An invalid Flask setting (SameSite="invalid") raises ConfigurationError,
            # a ValueError, on the request, as Flask's own interface does.
            config = self.config.replace(**{f: changes[f] for f in self._from_flask})
            if len(self._configs) >= _MAX_CONFIGS:
                self._configs.clear()
            self._configs[flask_values] = config
        return config

    def open_session(self, app: Flask, request: Request) -> FlaskSession:  # type: ignore[override]
        config = self.config_for(app)
        incoming = incoming_from_environ(config, request.environ)
        opened = _lifecycle.open_sync(config, incoming, FlaskSession)
        if config.dbsc is not None and opened.unavailable is None:
            opened = _open_dbsc(config, request.environ, opened)
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
        config = session.config
        changed = session.modified
        # A session bound to a user by auth.login holds the binding, not data:
        # it is not empty.
        emptied = changed and not session.has_data() and session.user_id is None
        if emptied:
            # Flask deletes a session its request left empty (and its cookie),
            # where Django would keep the key: the Flask dialect wins here.
            session.flush()
        elif (
            not changed
            and session.record is not None
            and session.permanent
            and app.config["SESSION_REFRESH_EACH_REQUEST"]
        ):
            session.require_save()  # Flask's refresh: extend the expiry, re-send the cookie
        outcome = _lifecycle.commit_sync(config, opened, response.status_code)
        session.remember_change(changed)
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
                if name == "set-cookie":
                    # Flask varies on Cookie whenever it sets the cookie (a refresh too).
                    response.vary.add("Cookie")
        if emptied and config.transport == "cookie" and "Set-Cookie" not in response.headers:
            # As Flask: the deletion goes out even when no cookie came in.
            response.delete_cookie(
                config.cookie_name,
                path=config.cookie_path,
                domain=config.cookie_domain,
                secure=config.cookie_secure,
                httponly=config.cookie_httponly,
                samesite=config.cookie_samesite,
                partitioned=config.cookie_partitioned,
            )
            response.vary.add("Cookie")

    def is_null_session(self, obj: object) -> bool:
        return not isinstance(obj, FlaskSession) or super().is_null_session(obj)


def _request_storage() -> BaseStorage | None:
    from flask import request

    storage = request.environ.get(STORAGE_KEY)
    return storage if isinstance(storage, BaseStorage) else None


_DBSC_KEY = "sessionary.dbsc_endpoint"


def _open_dbsc(
    config: SessionConfig, environ: dict[str, Any], opened: _lifecycle.Opened
) -> _lifecycle.Opened:
    from .._dbsc import edges

    if not edges.involved(config, opened, edges.environ_path(environ)):
        return opened
    facts = edges.facts_from_environ(config, environ)
    opened, steps = edges.before_app(config, opened, facts, environ)
    if steps is not None:
        environ[_DBSC_KEY] = (config, steps)  # answered by _answer_dbsc, before any view
    return opened


def _answer_dbsc() -> Response | None:
    from flask import request

    pending = request.environ.pop(_DBSC_KEY, None)
    if pending is None:
        return None
    from .._dbsc import edges

    reply = edges.reply_sync(*pending)
    return Response(reply.body, reply.status, reply.headers)


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

    Flask's own default is no ``SameSite`` attribute; an app that left
    ``SESSION_COOKIE_SAMESITE`` at that default gets sessionary's ``Lax``
    written into ``app.config`` here, so the secure default holds while a
    value the app sets later (``None`` included) is still obeyed.
    """
    interface = SessionaryInterface(config or SessionConfig.from_env(), permanent=permanent)
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = interface.config.cookie_samesite
    app.session_interface = interface
    app.before_request(_refuse_if_unavailable)
    app.before_request(_answer_dbsc)
    return interface


View = TypeVar("View", bound=Callable[..., Any])


def requires_recent_auth(
    max_age: float, *, reauth_url: str | None = None
) -> Callable[[View], View]:
    """Run the view only if the visitor authenticated at most ``max_age`` seconds ago.

    Otherwise answer 401 (an API), or with ``reauth_url`` redirect (303)
    there with ``next=`` the current path.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            session = flask.session
            if not isinstance(session, Session):
                raise ConfigurationError("SESSION_INTERFACE", "call init_app(app, config) first")
            if auth.require_recent_auth(cast(Session, session), max_age):
                return view(*args, **kwargs)
            if reauth_url is None:
                return Response("Re-authentication required.", 401, mimetype="text/plain")
            here = flask.request.full_path if flask.request.query_string else flask.request.path
            return flask.redirect(auth.reauthentication_url(reauth_url, here), 303)

        return cast(View, guarded)

    return decorate
