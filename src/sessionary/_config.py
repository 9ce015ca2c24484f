"""Session settings: one frozen, validated object, passed in explicitly."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from ._clock import Clock
    from ._dbsc.config import DBSCConfig
    from .events import EventHook
    from .stores.base import Store

__all__ = ["SessionConfig"]

Transport = Literal["cookie", "header", "url"]
OnStoreError = Literal["fail", "degrade"]
OnSessionLimit = Literal["evict_oldest", "refuse"]

DEFAULT_STORE_URL = "sqlite:///sessionary.db"
MIN_SECRET_LENGTH = 32
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_logger = logging.getLogger("sessionary")


def _default_store() -> Store:
    from ._ops import migrate_on_first_use
    from .stores import from_url

    # Zero configuration: the embedded default creates its table on first use.
    return migrate_on_first_use(from_url(DEFAULT_STORE_URL))


@dataclass(frozen=True, slots=True, repr=False)
class SessionConfig:
    """Every session setting, named after Django's ``SESSION_*`` settings.

    ``store`` takes a :class:`~sessionary.stores.base.Store` or a store URL.
    Invalid values raise :class:`~sessionary.exceptions.ConfigurationError`
    naming the field, at construction.
    """

    secret_key: str | None = None
    secret_key_fallbacks: Sequence[str] = ()
    cookie_name: str = "sessionid"
    cookie_age: int = 1_209_600
    cookie_domain: str | None = None
    cookie_path: str = "/"
    cookie_secure: bool = False
    cookie_httponly: bool = True
    cookie_samesite: str | None = "Lax"
    cookie_partitioned: bool = False
    cookie_priority: str | None = None
    expire_at_browser_close: bool = False
    save_every_request: bool = False
    idle_timeout: int | None = None
    absolute_timeout: int | None = None
    store: Store = field(default_factory=_default_store)
    transport: Transport = "cookie"
    header_name: str = "X-Session-Token"
    url_param: str = "sid"
    url_allow_insecure: bool = False
    max_session_bytes: int = 1_048_576
    on_store_error: OnStoreError = "fail"
    event_hooks: Sequence[EventHook] = ()
    clock: Clock | None = None
    refresh_after: int | None = None
    clear_site_data_on_logout: bool = False
    max_sessions_per_user: int | None = None
    on_session_limit: OnSessionLimit = "evict_oldest"
    """Epoch seconds for the session's decisions (expiry, timeouts, cookie ages).

    ``None`` reads the store's clock, so a test that sets ``store.clock``
    moves both the records and the sessions. The cookie store checks a
    sealed session's expiry by this clock too; a server-side store keeps
    reading its own for the records it holds.
    """
    revocation_poll_interval: float | None = 5.0
    """Seconds between checks that the sessions of open WebSockets are still live,
    on stores without a revocation feed (Redis publishes instead); ``None``: no
    polling, so only revocations in the same process close sockets."""
    rotation_grace: int = 5
    """Seconds a key that ``cycle_key()`` replaced still serves its successor
    to the browser that rotated it (same user agent and address), for the
    requests already on their way with it; ``0``: it dies at once. A
    server-side store's; the cookie store has no window."""

    dbsc: DBSCConfig | None = None
    """Device Bound Session Credentials (:class:`sessionary.dbsc.DBSCConfig`); off by default."""

    if TYPE_CHECKING:
        # What the generated __init__ accepts, for the type checker: ``store``
        # also takes a URL, while the attribute is always a Store. A test
        # keeps this signature equal to the fields.
        def __init__(
            self,
            secret_key: str | None = None,
            secret_key_fallbacks: Sequence[str] = (),
            cookie_name: str = "sessionid",
            cookie_age: int = 1_209_600,
            cookie_domain: str | None = None,
            cookie_path: str = "/",
            cookie_secure: bool = False,
            cookie_httponly: bool = True,
            cookie_samesite: str | None = "Lax",
            cookie_partitioned: bool = False,
            cookie_priority: str | None = None,
            expire_at_browser_close: bool = False,
            save_every_request: bool = False,
            idle_timeout: int | None = None,
            absolute_timeout: int | None = None,
            store: Store | str = ...,
            transport: Transport = "cookie",
            header_name: str = "X-Session-Token",
            url_param: str = "sid",
            url_allow_insecure: bool = False,
            max_session_bytes: int = 1_048_576,
            on_store_error: OnStoreError = "fail",
            event_hooks: Sequence[EventHook] = (),
            clock: Clock | None = None,
            refresh_after: int | None = None,
            clear_site_data_on_logout: bool = False,
            max_sessions_per_user: int | None = None,
            on_session_limit: OnSessionLimit = "evict_oldest",
            revocation_poll_interval: float | None = 5.0,
            rotation_grace: int = 5,
            dbsc: DBSCConfig | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        store: Store | str = self.store
        if isinstance(store, str):
            from .stores import from_url

            set_(self, "store", from_url(store))
        set_(self, "secret_key_fallbacks", tuple(self.secret_key_fallbacks))
        set_(self, "event_hooks", tuple(self.event_hooks))
        self._validate()
        # A client-side store takes its secrets from this config, in a copy:
        # one store object may back several configs.
        set_(self, "store", self.store.for_config(self))

    def now(self) -> float:
        """The current time in epoch seconds, by this config's clock."""
        return (self.clock or self.store.clock)()

    def _validate(self) -> None:
        secrets_ = [("secret_key", self.secret_key)] + [
            (f"secret_key_fallbacks[{i}]", s) for i, s in enumerate(self.secret_key_fallbacks)
        ]
        for name, value in secrets_:
            if value is not None and len(value) < MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    name, f"is too short: use at least {MIN_SECRET_LENGTH} random characters"
                )
        if self.store.requires_secret and not self.secret_key:
            raise ConfigurationError(
                "secret_key", f"{type(self.store).__name__} signs its data and needs a secret_key"
            )
        if not self.cookie_name or not _TOKEN_RE.match(self.cookie_name):
            raise ConfigurationError("cookie_name", f"{self.cookie_name!r} is not a cookie name")
        if self.cookie_name.startswith("__Host-") and (
            not self.cookie_secure or self.cookie_domain is not None or self.cookie_path != "/"
        ):
            raise ConfigurationError(
                "cookie_name",
                "a __Host- cookie needs cookie_secure=True, no cookie_domain and cookie_path='/'",
            )
        if self.cookie_name.startswith("__Secure-") and not self.cookie_secure:
            raise ConfigurationError("cookie_name", "a __Secure- cookie needs cookie_secure=True")
        if not self.cookie_path.startswith("/"):
            raise ConfigurationError("cookie_path", "must start with '/'")
        if self.cookie_samesite is not None:
            normal = _SAMESITE.get(str(self.cookie_samesite).lower())
            if normal is None:
                raise ConfigurationError(
                    "cookie_samesite",
                    f"{self.cookie_samesite!r} is not one of 'Lax', 'Strict', 'None' or None",
                )
            object.__setattr__(self, "cookie_samesite", normal)
            if normal == "None" and not self.cookie_secure:
                raise ConfigurationError(
                    "cookie_samesite", "SameSite=None needs cookie_secure=True (browsers refuse it)"
                )
        if self.cookie_partitioned and not self.cookie_secure:
            raise ConfigurationError(
                "cookie_partitioned", "a Partitioned (CHIPS) cookie needs cookie_secure=True"
            )
        if self.cookie_priority is not None:
            priority = str(self.cookie_priority).capitalize()
            if priority not in ("Low", "Medium", "High"):
                raise ConfigurationError(
                    "cookie_priority", f"{self.cookie_priority!r} is not 'Low', 'Medium' or 'High'"
                )
            object.__setattr__(self, "cookie_priority", priority)
        if isinstance(self.cookie_age, bool) or not isinstance(self.cookie_age, int):
            raise ConfigurationError(
                "cookie_age", f"must be whole seconds, got {self.cookie_age!r}"
            )
        if self.cookie_age < 0:
            # 0 is a cookie the browser drops at once (Starlette's max_age=0).
            raise ConfigurationError("cookie_age", f"must not be negative, got {self.cookie_age}")
        _positive_int("max_session_bytes", self.max_session_bytes)
        grace = self.rotation_grace
        if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
            raise ConfigurationError(
                "rotation_grace", f"must be whole seconds, 0 or more, got {grace!r}"
            )
        for name in ("idle_timeout", "absolute_timeout", "refresh_after", "max_sessions_per_user"):
            value = getattr(self, name)
            if value is not None:
                _positive_int(name, value)
        if self.transport not in ("cookie", "header", "url"):
            raise ConfigurationError(
                "transport", f"{self.transport!r} is not 'cookie', 'header' or 'url'"
            )
        if not self.header_name or not _TOKEN_RE.match(self.header_name):
            raise ConfigurationError("header_name", f"{self.header_name!r} is not a header name")
        if self.on_store_error not in ("fail", "degrade"):
            raise ConfigurationError(
                "on_store_error", f"{self.on_store_error!r} is not 'fail' or 'degrade'"
            )
        interval = self.revocation_poll_interval
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0
        ):
            raise ConfigurationError(
                "revocation_poll_interval", f"must be positive seconds or None, got {interval!r}"
            )
        if self.dbsc is not None:
            _check_dbsc(self)
        if self.on_session_limit not in ("evict_oldest", "refuse"):
            raise ConfigurationError(
                "on_session_limit",
                f"{self.on_session_limit!r} is not 'evict_oldest' or 'refuse'",
            )

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "secret_key" and value is not None:
                value = "***"
            elif f.name == "secret_key_fallbacks":
                value = ["***"] * len(value)
            parts.append(f"{f.name}={value!r}")
        return f"SessionConfig({', '.join(parts)})"

    def replace(self, **changes: Any) -> SessionConfig:
        """Return a copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, /, **overrides: Any
    ) -> SessionConfig:
        """Build a config from ``SESSIONARY_*`` variables, then ``overrides``.

        The store comes from ``SESSIONARY_STORE_URL``; each other field from
        ``SESSIONARY_<FIELD>`` (``SESSIONARY_COOKIE_SECURE=true``); lists are
        comma-separated.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if url := env.get("SESSIONARY_STORE_URL"):
            values["store"] = url
        for f in dataclasses.fields(cls):
            if f.name in ("store", "event_hooks", "clock", "dbsc"):
                continue
            raw = env.get(f"SESSIONARY_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse_env(f.name, raw)
        values.update(overrides)
        return cls(**values)


_BOOL_FIELDS = {
    "url_allow_insecure",
    "cookie_secure",
    "cookie_partitioned",
    "cookie_httponly",
    "expire_at_browser_close",
    "save_every_request",
    "clear_site_data_on_logout",
}
_INT_FIELDS = {
    "cookie_age",
    "max_session_bytes",
    "idle_timeout",
    "absolute_timeout",
    "refresh_after",
    "max_sessions_per_user",
    "rotation_grace",
}
_OPTIONAL = {
    "cookie_domain",
    "cookie_samesite",
    "cookie_priority",
    "idle_timeout",
    "absolute_timeout",
    "refresh_after",
    "max_sessions_per_user",
    "revocation_poll_interval",
}


# Starlette's SessionMiddleware keyword -> SessionConfig field.
STARLETTE_ALIASES = {
    "session_cookie": "cookie_name",
    "max_age": "cookie_age",
    "path": "cookie_path",
    "same_site": "cookie_samesite",
    "https_only": "cookie_secure",
    "domain": "cookie_domain",
    "partitioned": "cookie_partitioned",
}
STARLETTE_COOKIE_NAME = "session"


def from_starlette_options(
    options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> SessionConfig:
    """A config from keyword arguments in Starlette's dialect, then ``SESSIONARY_*``.

    ``options`` may mix Starlette's ``SessionMiddleware`` arguments
    (``secret_key``, ``session_cookie``, ``max_age``, ``path``,
    ``same_site``, ``https_only``, ``domain``, ``partitioned``) with
    :class:`SessionConfig` fields. As in Starlette, the cookie is named
    ``session``; ``max_age=None`` makes it a browser-session cookie and a
    negative ``max_age`` is ``0`` (dropped at once). A ``secret_key`` too
    short to be one is refused only where it would be used (a client-side
    store); a server-side store signs nothing, so there it is ignored with a
    warning. Settings the arguments leave out come from the environment, as
    for :meth:`SessionConfig.from_env` (``SESSIONARY_STORE_URL``, ...).
    """
    env = os.environ if environ is None else environ
    for alias, field_name in STARLETTE_ALIASES.items():
        if alias in options and field_name in options:
            raise TypeError(f"{alias!r} (Starlette's name) and {field_name!r} are one setting")
    values: dict[str, Any] = {}
    for name, value in options.items():
        field_name = STARLETTE_ALIASES.get(name, name)
        if name == "max_age":
            if value is None:
                values["expire_at_browser_close"] = True
                continue
            value = max(0, value) if isinstance(value, int) else value
        values[field_name] = value
    if "SESSIONARY_COOKIE_NAME" not in env:
        values.setdefault("cookie_name", STARLETTE_COOKIE_NAME)
    secret = values.get("secret_key")
    if secret is not None:
        # Starlette's ``Secret`` wraps the string to keep it out of reprs.
        secret = values["secret_key"] = str(secret)
        if len(secret) < MIN_SECRET_LENGTH:
            store = values.get("store") or env.get("SESSIONARY_STORE_URL")
            if store is None:
                store = values["store"] = _default_store()
            elif isinstance(store, str):
                from .stores import from_url

                store = values["store"] = from_url(store)
            if not store.requires_secret:
                _logger.warning(
                    "secret_key is ignored: %s keeps sessions server-side and signs nothing",
                    type(store).__name__,
                )
                del values["secret_key"]
    return SessionConfig.from_env(env, **values)


def _parse_env(name: str, raw: str) -> Any:
    if name in _OPTIONAL and raw.strip().lower() in ("", "none"):
        return None
    if name in _BOOL_FIELDS:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigurationError(name, f"{raw!r} is not a boolean (use true or false)")
    if name in _INT_FIELDS:
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(name, f"{raw!r} is not an integer") from None
    if name == "revocation_poll_interval":
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(name, f"{raw!r} is not a number of seconds") from None
    if name == "secret_key_fallbacks":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(
            name, f"must be a positive whole number of seconds/bytes, got {value!r}"
        )


def _check_dbsc(config: SessionConfig) -> None:
    from ._dbsc.config import DBSCConfig

    if not isinstance(config.dbsc, DBSCConfig):
        raise ConfigurationError("dbsc", f"takes a sessionary.dbsc.DBSCConfig, not {config.dbsc!r}")
    if config.store.client_side:
        raise ConfigurationError(
            "dbsc", "device-bound sessions need a server-side store (the binding lives beside it)"
        )
    if config.transport != "cookie":
        raise ConfigurationError("dbsc", "device-bound sessions need transport='cookie'")
