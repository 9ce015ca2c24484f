"""Django: a ``SESSION_ENGINE`` backed by a sessionary store.

::

    SESSION_ENGINE = "sessionary.integrations.django"
    SESSIONARY = {"store": "sqlite:///sessionary.db"}  # or SESSIONARY_STORE_URL = "..."
    MIDDLEWARE = ["sessionary.integrations.django.SessionMiddleware", ...]

``SESSIONARY`` holds :class:`~sessionary.SessionConfig` fields; those it does
not name come from Django's ``SESSION_*`` settings (cookie name and age,
browser-close, save-every-request), read live. Django's ``SessionMiddleware``
(which :class:`SessionMiddleware` extends with a 503 for a store outage)
handles cookies; records are sessionary's (JSON values, hashed keys), so a
Django view and an ASGI service on the same store and cookie share sessions.

:class:`SessionStore` has the whole ``SessionBase`` API, with Django's
arithmetic and time-zone convention for expiry; as in Django,
``set_expiry(timedelta)`` sets a fixed deadline, ``flush()`` ends the old
record at once and ``cycle_key()`` the old key (``exists()`` is false; it
serves the new session for ``rotation_grace`` seconds). Beyond Django: each
request applies only the keys it changed (no lost updates), in-place changes to
nested values are noticed, and keys are never stored.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.utils import timezone
from django.utils.module_loading import import_string

from .. import _core, _lifecycle, _rotation, auth
from .._config import SessionConfig
from .._keys import is_valid_key
from .._ops import Delete, Steps, run_sync
from .._session import Session
from ..exceptions import ConfigurationError, StoreError
from ..stores import Store, from_url

__all__ = [
    "SessionMiddleware",
    "SessionStore",
    "clear_site_data",
    "get_config",
    "offer_dbsc",
    "reauthenticate",
    "requires_recent_auth",
]

_config: SessionConfig | None = None
_DJANGO_USER = "_auth_user_id"  # django.contrib.auth.SESSION_KEY

# Django setting -> SessionConfig field, used when SESSIONARY does not name the field.
_FROM_DJANGO = {
    "SESSION_COOKIE_NAME": "cookie_name",
    "SESSION_COOKIE_AGE": "cookie_age",
    "SESSION_COOKIE_DOMAIN": "cookie_domain",
    "SESSION_COOKIE_PATH": "cookie_path",
    "SESSION_COOKIE_SECURE": "cookie_secure",
    "SESSION_COOKIE_HTTPONLY": "cookie_httponly",
    "SESSION_COOKIE_SAMESITE": "cookie_samesite",
    "SESSION_EXPIRE_AT_BROWSER_CLOSE": "expire_at_browser_close",
    "SESSION_SAVE_EVERY_REQUEST": "save_every_request",
}


def get_config() -> SessionConfig:
    """The :class:`~sessionary.SessionConfig` built from Django's settings.

    Built once, and again after ``override_settings`` changes a ``SESSION*``
    setting (settings are read live); the store is kept while its own
    setting is unchanged, so the process keeps one store and one pool.
    """
    global _config
    if _config is None:
        _config = _build_config()
    return _config


# The store setting last built, and its store: rebuilding the config must not open a new pool.
_store_cache: tuple[Any, Store] | None = None


def _store_for(setting: Any) -> Store | str:
    global _store_cache
    if not isinstance(setting, str):
        return cast("Store", setting)
    if _store_cache is None or _store_cache[0] != setting:
        _store_cache = (setting, from_url(setting))
    return _store_cache[1]


def _build_config() -> SessionConfig:
    options: dict[str, Any] = dict(getattr(settings, "SESSIONARY", None) or {})
    url = getattr(settings, "SESSIONARY_STORE_URL", None)
    if url and "store" not in options:
        options["store"] = url
    if "store" not in options:
        raise ConfigurationError(
            "store",
            "set SESSIONARY = {'store': URL} or SESSIONARY_STORE_URL in Django's settings",
        )
    options["store"] = _store_for(options["store"])
    for name, field in _FROM_DJANGO.items():
        if field not in options:
            value = getattr(settings, name)
            options[field] = value if value is not False or field != "cookie_samesite" else None
    config = SessionConfig(**options)
    if config.store.client_side:
        raise ConfigurationError(
            "store", "a client-side store cannot back SESSION_ENGINE: the cookie holds a key"
        )
    return config


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Tests switch settings with override_settings: build the config again.
    global _config
    if setting.startswith("SESSION"):
        _config = None


setting_changed.connect(_settings_changed)


def _delete(key: str) -> Steps[None]:
    yield Delete(key, "flushed")


_MISSING: Any = object()


class SessionStore(SessionBase):  # type: ignore[misc]
    """Django's ``SessionBase`` API over a sessionary :class:`~sessionary.Session`.

    The mapping methods act on the sessionary session; the store is read on
    first access (never for a request without a session cookie). The async
    ``a*`` methods run the sync ones in a worker thread (``sync_to_async``),
    as Django's database engine does, so they work whichever event loop
    calls them (``async_to_sync`` starts a new one for each call).
    """

    def __init__(self, session_key: str | None = None) -> None:
        self._config = get_config()
        # Django's encode()/decode() sign with it (SESSION_SERIALIZER, read live).
        self.serializer = import_string(settings.SESSION_SERIALIZER)
        key = session_key if is_valid_key(session_key) else None
        self._inner = Session(self._config, key)
        self._loaded = key is None  # without a key there is nothing to load
        self._resend = False

    def _run(self, steps: Steps[Any]) -> Any:
        return run_sync(self._config.store, steps, self._config.event_hooks)

    # -- state --------------------------------------------------------------------

    def _get_session_key(self) -> str | None:
        return self._inner.session_key

    def _set_session_key(self, value: str | None) -> None:
        key = value if is_valid_key(value) else None
        self._inner = Session(self._config, key)
        self._loaded = key is None

    session_key = property(_get_session_key)
    _session_key = property(_get_session_key, _set_session_key)

    @property
    def accessed(self) -> bool:
        return self._inner.accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:
        self._inner.accessed = value

    @property
    def modified(self) -> bool:
        return self._inner.modified or self._resend

    @modified.setter
    def modified(self, value: bool) -> None:
        # Set by the app after changing a nested value in place (Django's idiom).
        self._inner.modified = value
        if not value:
            self._resend = False

    def is_empty(self) -> bool:
        return self._inner.is_empty()

    # -- loading ------------------------------------------------------------------

    def _load_steps(self) -> Steps[None]:
        self._loaded = True
        key = self._inner.session_key
        if key is None:
            return
        incoming = _core.Incoming(key, True, None)
        opened = yield from _lifecycle.open_plan(self._config, incoming)
        if opened.unavailable is not None:
            raise opened.unavailable.error
        self._inner = opened.session

    def _get_session(self, no_load: bool = False) -> Session:
        if not self._loaded:
            if no_load:
                self._loaded = True  # Django's no_load: start from empty data
            else:
                self._run(self._load_steps())
        self._inner.accessed = True
        return self._inner

    async def _aget_session(self, no_load: bool = False) -> Session:
        if self._loaded or no_load:
            return self._get_session(no_load)
        return await sync_to_async(self._get_session)(no_load)

    _session = property(_get_session)

    def load(self) -> dict[str, Any]:
        """The stored record's data (``{}`` when there is none), read again."""
        if self._inner.session_key is None:
            return {}
        self._loaded = False
        return dict(self._get_session().items())

    async def aload(self) -> dict[str, Any]:
        return await sync_to_async(self.load)()

    # -- the mapping (straight to the sessionary session) ---------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._get_session()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._get_session()[key]

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        session = self._get_session()
        return session.pop(key) if default is _MISSING else session.pop(key, default)

    async def apop(self, key: str, default: Any = _MISSING) -> Any:
        session = await self._aget_session()
        return session.pop(key) if default is _MISSING else session.pop(key, default)

    def setdefault(self, key: str, value: Any) -> Any:
        return self._get_session().setdefault(key, value)

    def update(self, dict_: Any) -> None:
        self._get_session().update(dict_)

    def clear(self) -> None:
        self._get_session().clear()

    # -- expiry: Django's arithmetic, in Django's time-zone convention ----------------

    def get_session_cookie_age(self) -> int:
        return get_config().cookie_age

    def _expiry(self) -> int | dt.datetime | None:
        setting = self._get_session().get_expiry_setting()
        if isinstance(setting, dt.datetime) and not settings.USE_TZ:
            # Django hands out naive local times when USE_TZ is False.
            return cast("dt.datetime", timezone.make_naive(setting))
        return setting

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Seconds from ``modification`` (default: now) to expiry, as Django counts them."""
        modification = kwargs["modification"] if "modification" in kwargs else timezone.now()
        expiry = kwargs["expiry"] if "expiry" in kwargs else self._expiry()
        if not expiry:  # None and 0: the cookie age
            return self.get_session_cookie_age()
        if isinstance(expiry, str):
            expiry = dt.datetime.fromisoformat(expiry)
        if not isinstance(expiry, dt.datetime):
            return int(expiry)
        delta = expiry - modification
        return int(delta.days * 86400 + delta.seconds)

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        return await sync_to_async(self.get_expiry_age)(**kwargs)

    def get_expiry_date(self, **kwargs: Any) -> dt.datetime:
        """When the session expires, counted from ``modification`` (default: now)."""
        modification = kwargs["modification"] if "modification" in kwargs else timezone.now()
        expiry = kwargs["expiry"] if "expiry" in kwargs else self._expiry()
        if isinstance(expiry, dt.datetime):
            return expiry
        if isinstance(expiry, str):
            return dt.datetime.fromisoformat(expiry)
        seconds = expiry or self.get_session_cookie_age()
        return cast("dt.datetime", modification + dt.timedelta(seconds=seconds))

    async def aget_expiry_date(self, **kwargs: Any) -> dt.datetime:
        return await sync_to_async(self.get_expiry_date)(**kwargs)

    def set_expiry(self, value: int | dt.datetime | dt.timedelta | None) -> None:
        if isinstance(value, dt.timedelta):
            # Django reads a timedelta as "from now", a fixed deadline.
            value = timezone.now() + value
        if isinstance(value, dt.datetime) and timezone.is_naive(value):
            value = timezone.make_aware(value)  # a naive time is Django's local time
        self._get_session().set_expiry(value)

    async def aset_expiry(self, value: int | dt.datetime | dt.timedelta | None) -> None:
        await self._aget_session()
        self.set_expiry(value)

    def get_expire_at_browser_close(self) -> bool:
        setting = self._get_session().get_expiry_setting()
        if setting is None:
            return get_config().expire_at_browser_close  # read live
        return setting == 0

    async def aget_expire_at_browser_close(self) -> bool:
        await self._aget_session()
        return self.get_expire_at_browser_close()

    # -- keys and records --------------------------------------------------------------

    def flush(self) -> None:
        session = self._session
        bound = session.device_bound
        session.flush()
        if bound:  # the browser must drop the session's key and bound cookie too
            session.clear_site_data()
        # Django's middleware saves nothing for an empty session: delete now.
        self._run(session.commit_plan(save=False))

    async def aflush(self) -> None:
        await sync_to_async(self.flush)()

    def cycle_key(self) -> None:
        """Move the data to a new key now; the old key ends now (``rotation_grace``:
        it serves the new session that long, for requests on their way)."""
        self._get_session().cycle_key()
        self._run(self._save_steps(must_create=False))
        self._resend = True

    async def acycle_key(self) -> None:
        await sync_to_async(self.cycle_key)()

    def exists(self, session_key: str) -> bool:
        return is_valid_key(session_key) and bool(self._run(_rotation.exists(session_key)))

    async def aexists(self, session_key: str) -> bool:
        return await sync_to_async(self.exists)(session_key)

    def _new(self) -> None:
        self._inner = Session(self._config, None)
        self._loaded = True
        self._inner.cycle_key()

    def create(self) -> None:
        self._new()
        self.save(must_create=True)
        self._resend = True

    async def acreate(self) -> None:
        await sync_to_async(self.create)()

    def _save_steps(self, must_create: bool) -> Steps[None]:
        session = self._inner
        if must_create and session.record is not None:
            raise CreateError
        if session.session_key is None:
            session.cycle_key()  # an empty session gets a key, as Django's save() does
        # Django's save() always writes (and so extends the expiry).
        session.require_save()
        user = session.get(_DJANGO_USER)
        if user is not None and str(user) != session.user_id:
            # django.contrib.auth's login joins sessionary's per-user index
            # (``sessionary sessions list --user ID``, revoke), and counts as
            # the authentication that step-up checks (it cycled the key).
            session.bind_user(str(user))
            auth.reauthenticate(session, cycle=False)
        yield from session.commit_plan()
        if session.gone:
            raise UpdateError

    def save(self, must_create: bool = False) -> None:
        self._get_session(no_load=must_create)
        self._run(self._save_steps(must_create))

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save)(must_create)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self._inner.session_key
        if key is not None:
            self._run(_delete(key))

    async def adelete(self, session_key: str | None = None) -> None:
        await sync_to_async(self.delete)(session_key)

    @classmethod
    def clear_expired(cls) -> None:
        """Remove expired records (``manage.py clearsessions``)."""
        get_config().store.clear_expired_sync()

    @classmethod
    async def aclear_expired(cls) -> None:
        await sync_to_async(cls.clear_expired)()


class SessionMiddleware(DjangoSessionMiddleware):  # type: ignore[misc]
    """Django's ``SessionMiddleware``, answering 503 (never 500) when the store is down.

    Use it in ``MIDDLEWARE`` in place of
    ``django.contrib.sessions.middleware.SessionMiddleware``: a store failure
    while a view reads the session, or while the response saves it, becomes
    the same 503 the ASGI and WSGI middlewares send (``on_store_error="fail"``;
    with ``"degrade"`` the view gets a blank session instead).
    """

    def process_request(self, request: HttpRequest) -> HttpResponseBase | None:
        super().process_request(request)
        config = get_config()
        if config.dbsc is None:
            return None
        return _dbsc_request(request, config)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, StoreError):
            # The class only: a driver's message may quote SQL parameters.
            _lifecycle.logger.error(
                "session store failed during the view (%s)", type(exception).__name__
            )
            return _unavailable_response()
        return None

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        store = getattr(request, "session", None)
        offer = None
        if isinstance(store, SessionStore) and store._config.dbsc is not None:
            from .._dbsc.offer import registration_header

            # Before the save, which replaces the record the offer is compared with.
            offer = registration_header(store._config, store._inner)
        try:
            response = super().process_response(request, response)
        except StoreError as exc:
            _lifecycle.logger.error("session store failed on save (%s)", type(exc).__name__)
            return _unavailable_response()
        if isinstance(store, SessionStore) and store._inner.clears_site_data:
            response["Clear-Site-Data"] = '"cookies"'
        if offer is not None and isinstance(store, SessionStore) and store._inner.was_saved:
            response[offer[0]] = offer[1]
        return cast("HttpResponseBase", response)


def _dbsc_request(request: HttpRequest, config: SessionConfig) -> HttpResponseBase | None:
    """Answer a DBSC endpoint, or enforce the binding (see ``sessionary._dbsc.edges``)."""
    from .._dbsc import edges

    store = request.session
    try:
        session = store._get_session()
    except StoreError:
        return _unavailable_response()
    session.accessed = False  # reading the binding is not the view's use of the session
    opened = _lifecycle.Opened(session, _core.Incoming(session.session_key, True, None))
    path, secure = request.path, request.is_secure()
    if not edges.involved(config, opened, path):
        return None
    facts = edges.facts_from_meta(config, request.META, request.method or "GET", path, secure)
    checked, steps = edges.before_app(config, opened, facts, request.META)
    if steps is not None:
        reply = edges.reply_sync(config, steps)
        response = HttpResponse(reply.body, status=reply.status)
        for name, value in reply.headers:
            if name == "set-cookie":
                _set_cookie(response, value)
            elif name != "Content-Length":
                response[name] = value
        return response  # process_response saves the binding
    if checked is not opened:
        request.session = SessionStore(None)
        # Django deletes the cookie of a session left empty: not the bound one's.
        request.COOKIES.pop(settings.SESSION_COOKIE_NAME, None)
    return None


def _set_cookie(response: HttpResponse, header: str) -> None:
    # The bound cookie, as the DBSC reply spells it (one cookie, known attributes).
    first, *attributes = (part.strip() for part in header.split(";"))
    name, _, value = first.partition("=")
    options = {a.partition("=")[0].lower(): a.partition("=")[2] for a in attributes}
    response.set_cookie(
        name,
        value,
        max_age=int(options["max-age"]),
        path=options.get("path", "/"),
        secure="secure" in options,
        httponly="httponly" in options,
        samesite=options.get("samesite"),
    )


def offer_dbsc(request: HttpRequest, *, authorization: str | None = None) -> None:
    """Offer the browser a device binding (call it after ``django.contrib.auth.login``)."""
    from ..dbsc import offer

    offer(_sessionary_session(request), authorization=authorization)


def _unavailable_response() -> HttpResponse:
    parts = _lifecycle.Unavailable
    response = HttpResponse(parts.body, status=parts.status)
    for name, value in parts.headers:
        if name != "Content-Length":  # HttpResponse sets it from the body
            response[name] = value
    return response


def _sessionary_session(request: HttpRequest) -> Session:
    store = getattr(request, "session", None)
    if not isinstance(store, SessionStore):
        raise ConfigurationError(
            "SESSION_ENGINE", 'set SESSION_ENGINE = "sessionary.integrations.django"'
        )
    return store._get_session()


def clear_site_data(request: HttpRequest) -> None:
    """Have the response carry ``Clear-Site-Data: "cookies"`` (call it after
    ``django.contrib.auth.logout`` for a logout that must leave nothing)."""
    _sessionary_session(request).clear_site_data()


def reauthenticate(request: HttpRequest) -> None:
    """Record that the visitor just re-entered their password (step-up starts now)."""
    auth.reauthenticate(_sessionary_session(request))


View = Callable[..., HttpResponseBase]


def requires_recent_auth(
    max_age: float, *, reauth_url: str | None = None
) -> Callable[[View], View]:
    """Run the view only if the visitor authenticated at most ``max_age`` seconds ago.

    ``django.contrib.auth.login`` counts as an authentication; so does
    :func:`reauthenticate`. Otherwise answer 401 (an API), or with
    ``reauth_url`` redirect (303) there with ``next=`` the current path.
    """

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if auth.require_recent_auth(_sessionary_session(request), max_age):
                return view(request, *args, **kwargs)
            if reauth_url is None:
                return HttpResponse(
                    "Re-authentication required.", status=401, content_type="text/plain"
                )
            target = auth.reauthentication_url(reauth_url, request.get_full_path())
            response = HttpResponseRedirect(target)
            response.status_code = 303
            return response

        return guarded

    return decorate
