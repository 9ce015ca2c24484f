"""Device Bound Session Credentials (DBSC): a copied cookie stops working.

Opt in with ``SessionConfig(dbsc=DBSCConfig())``. After a sign-in
(:func:`sessionary.auth.login` offers automatically; or call :func:`offer`)
a DBSC-capable browser registers a key it cannot export; the middleware
then issues a short-lived bound cookie that only that browser can refresh,
by signing a server challenge. A bound session whose request lacks a live
bound cookie is served as an empty, unauthenticated session, so the
long-lived session cookie alone (what cookie-stealing malware copies) is
refused within ``cookie_age`` seconds. ``session.device_bound`` tells a
request that is bound and proved it. Needs the ``cryptography`` package
(``pip install 'sessionary[dbsc]'``). See ``docs/dbsc.md``.
"""

from __future__ import annotations

from ._dbsc.config import DBSCConfig
from ._dbsc.edges import SKIPPED_KEY
from ._dbsc.offer import offer

__all__ = ["SKIPPED_KEY", "DBSCConfig", "offer"]
