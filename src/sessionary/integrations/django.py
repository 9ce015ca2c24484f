"""Django: a ``SESSION_ENGINE`` backed by a sessionary store.

::

    SESSION_ENGINE = "sessionary.integrations.django"
    SESSIONARY = {"store": "sqlite:///sessionary.db"}  # or SESSIONARY_STORE_URL = "..."

``SESSIONARY`` holds :class:`~sessionary.SessionConfig` fields; those it does
not name come from Django's ``SESSION_*`` settings (cookie name and age,
browser-close, save-every-request). Django's own ``SessionMiddleware`` keeps
handling cookies; records are sessionary's (JSON values, hashed keys), so a
Django view and an ASGI service on the same store and cookie share sessions.

Beyond Django: each request applies only the keys it changed (no lost
updates), in-place changes to nested values are noticed, and keys are never
stored. As in Django, ``set_expiry(timedelta)`` sets a fixed deadline here;
``flush()`` deletes at once, and ``cycle_key()`` at the next ``save()``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core.signals import setting_changed

from .. import _core, _lifecycle
from .._clock import from_timestamp
from .._keys import is_valid_key
from .._ops import Delete, Steps, run_async, run_sync
from ..config import SessionConfig
from ..exceptions import ConfigurationError
from ..session import Session

__all__ = ["SessionStore", "get_config"]

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
    """The :class:`~sessionary.SessionConfig` built from Django's settings (once)."""
    global _config  # one store (one pool) per process
    if _config is None:
        _config = _build_config()
    return _config


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


class SessionStore(SessionBase):  # type: ignore[misc]
    """Django's ``SessionBase`` API over a sessionary :class:`~sessionary.Session`.

    The mapping methods act on the sessionary session; the store is read on
    first access (never for a request without a session cookie).
    """

    def __init__(self, session_key: str | None = None) -> None:
        self._config = get_config()
        key = session_key if is_valid_key(session_key) else None
        self._inner = Session(self._config, key)
        self._loaded = key is None  # without a key there is nothing to load
        self._resend = False

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
                run_sync(self._config.store, self._load_steps(), self._config.event_hooks)
        self._inner.accessed = True
        return self._inner

    async def _aget_session(self, no_load: bool = False) -> Session:
        if not self._loaded and not no_load:
            await run_async(self._config.store, self._load_steps(), self._config.event_hooks)
        return self._get_session(no_load)

    _session = property(_get_session)

    def load(self) -> dict[str, Any]:
        """Read the record again and return its data (Django's ``load``)."""
        self._loaded = False
        return dict(self._get_session().items())

    async def aload(self) -> dict[str, Any]:
        self._loaded = False
        return dict((await self._aget_session()).items())

    # -- the mapping (straight to the sessionary session) ---------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._get_session()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._get_session()[key]

    def pop(self, key: str, *default: Any) -> Any:
        return self._get_session().pop(key, *default)

    def setdefault(self, key: str, value: Any) -> Any:
        return self._get_session().setdefault(key, value)

    def update(self, dict_: Any) -> None:
        self._get_session().update(dict_)

    def clear(self) -> None:
        self._get_session().clear()

    # -- expiry ---------------------------------------------------------------------

    def get_session_cookie_age(self) -> int:
        return self._config.cookie_age

    def get_expiry_age(self, **kwargs: Any) -> int:
        return self._get_session().get_expiry_age()

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        return (await self._aget_session()).get_expiry_age()

    def get_expiry_date(self, **kwargs: Any) -> dt.datetime:
        return self._get_session().get_expiry_date()

    async def aget_expiry_date(self, **kwargs: Any) -> dt.datetime:
        return (await self._aget_session()).get_expiry_date()

    def set_expiry(self, value: int | dt.datetime | dt.timedelta | None) -> None:
        if isinstance(value, dt.timedelta):
            # Django reads a timedelta as "from now", a fixed deadline.
            value = from_timestamp(self._config.store.clock()) + value
        self._get_session().set_expiry(value)

    async def aset_expiry(self, value: int | dt.datetime | dt.timedelta | None) -> None:
        await self._aget_session()
        self.set_expiry(value)

    def get_expire_at_browser_close(self) -> bool:
        return self._get_session().get_expire_at_browser_close()

    async def aget_expire_at_browser_close(self) -> bool:
        return (await self._aget_session()).get_expire_at_browser_close()

    # -- keys and records --------------------------------------------------------------

    def flush(self) -> None:
        session = self._session
        session.flush()
        # Django's middleware saves nothing for an empty session: delete now.
        run_sync(self._config.store, session.commit_plan(save=False), self._config.event_hooks)

    async def aflush(self) -> None:
        session = await self._aget_session()
        session.flush()
        await run_async(
            self._config.store, session.commit_plan(save=False), self._config.event_hooks
        )

    def cycle_key(self) -> None:
        self._get_session().cycle_key()

    async def acycle_key(self) -> None:
        (await self._aget_session()).cycle_key()

    def exists(self, session_key: str) -> bool:
        return is_valid_key(session_key) and self._config.store.exists_sync(session_key)

    async def aexists(self, session_key: str) -> bool:
        return is_valid_key(session_key) and await self._config.store.exists(session_key)

    def _new(self) -> None:
        self._inner = Session(self._config, None)
        self._loaded = True
        self._inner.cycle_key()

    def create(self) -> None:
        self._new()
        self.save(must_create=True)
        self._resend = True

    async def acreate(self) -> None:
        self._new()
        await self.asave(must_create=True)
        self._resend = True

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
            # (``sessionary sessions list --user ID``, revoke).
            session.bind_user(str(user))
        yield from session.commit_plan()
        if session.gone:
            raise UpdateError

    def save(self, must_create: bool = False) -> None:
        self._get_session(no_load=must_create)
        run_sync(self._config.store, self._save_steps(must_create), self._config.event_hooks)

    async def asave(self, must_create: bool = False) -> None:
        await self._aget_session(no_load=must_create)
        await run_async(self._config.store, self._save_steps(must_create), self._config.event_hooks)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self._inner.session_key
        if key is not None:
            run_sync(self._config.store, _delete(key), self._config.event_hooks)

    async def adelete(self, session_key: str | None = None) -> None:
        key = session_key or self._inner.session_key
        if key is not None:
            await run_async(self._config.store, _delete(key), self._config.event_hooks)

    @classmethod
    def clear_expired(cls) -> None:
        get_config().store.clear_expired_sync()

    @classmethod
    async def aclear_expired(cls) -> None:
        await get_config().store.clear_expired()
