"""``DBSCConfig``: the settings of device-bound sessions, a small frozen object."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..exceptions import ConfigurationError
from .proof import ALGORITHMS

__all__ = ["DBSCConfig"]

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+\Z")
_COOKIE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


@dataclass(frozen=True, slots=True)
class DBSCConfig:
    """Device Bound Session Credentials, opt-in: ``SessionConfig(dbsc=DBSCConfig())``.

    ``cookie_age`` is the bound cookie's lifetime (seconds): a copied cookie
    stops working that long after the theft. ``grace`` is how many seconds
    past it a request still passes (subresources already in flight while the
    browser refreshes). ``exclude_paths`` are path prefixes the binding does
    not cover (static files). ``origin`` (``"https://example.com"``) is the
    public origin when a proxy hides it; by default it is read from the
    request (scheme and ``Host``).
    """

    registration_path: str = "/.sessionary/dbsc/register"
    refresh_path: str = "/.sessionary/dbsc/refresh"
    cookie_name: str = "sessionary_bound"
    cookie_age: int = 300
    challenge_ttl: int = 900
    offer_ttl: int = 600
    grace: int = 10
    algorithms: tuple[str, ...] = ALGORITHMS
    exclude_paths: tuple[str, ...] = ("/static/",)
    include_site: bool = False
    origin: str | None = None
    offer_on_login: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        object.__setattr__(self, "exclude_paths", tuple(self.exclude_paths))
        refused = [a for a in self.algorithms if a not in ALGORITHMS]
        if refused or not self.algorithms:
            raise ConfigurationError(
                "dbsc.algorithms", f"only ES256 and RS256 are accepted, got {list(self.algorithms)}"
            )
        for name in ("registration_path", "refresh_path", *(["exclude_paths"])):
            values = self.exclude_paths if name == "exclude_paths" else (getattr(self, name),)
            for path in values:
                if not isinstance(path, str) or not path.startswith("/"):
                    raise ConfigurationError(f"dbsc.{name}", f"{path!r} must start with '/'")
        if self.registration_path == self.refresh_path:
            raise ConfigurationError("dbsc.refresh_path", "must differ from registration_path")
        for name in ("cookie_age", "challenge_ttl", "offer_ttl"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"dbsc.{name}", f"must be positive seconds, got {value!r}")
        if isinstance(self.grace, bool) or not isinstance(self.grace, int) or self.grace < 0:
            raise ConfigurationError("dbsc.grace", f"must be seconds >= 0, got {self.grace!r}")
        if not _COOKIE.match(self.cookie_name) or self.cookie_name.startswith("__"):
            raise ConfigurationError(
                "dbsc.cookie_name",
                f"{self.cookie_name!r}: a cookie name without prefix (__Host- is added on HTTPS)",
            )
        if self.origin is not None and not _ORIGIN.match(self.origin):
            raise ConfigurationError(
                "dbsc.origin", f"{self.origin!r} is not an origin like 'https://example.com'"
            )
