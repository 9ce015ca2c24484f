"""A pytest plugin for Flask's own session tests: ``init_app`` on their ``app`` fixture.

Flask's ``tests/conftest.py`` builds the test app in a fixture named ``app``;
a user adopts sessionary with one call on their app, so this applies
``init_app(app)`` to whatever that fixture returns. Without a config,
``init_app`` reads ``SESSIONARY_*`` from the environment
(``scripts/framework-suites`` sets ``SESSIONARY_STORE_URL`` per store run;
none means the zero-configuration default).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import _pytest.compat
import _pytest.monkeypatch
import pytest
from flask import Flask

from sessionary.integrations.flask import init_app

# Flask 3.1's conftest.py uses ``_pytest.monkeypatch.notset``, which pytest 9
# renamed to ``_pytest.compat.NOTSET``; the alias lets it run on our pytest.
if not hasattr(_pytest.monkeypatch, "notset"):
    _pytest.monkeypatch.notset = _pytest.compat.NOTSET  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, Any]:
    app = yield
    if fixturedef.argname == "app" and isinstance(app, Flask):
        init_app(app)
    return app
