"""Django's own ``sessions_tests`` against ``sessionary.integrations.django``.

Django runs ``SessionTestsMixin`` once per engine (a ``TestCase`` subclass
naming ``backend``), again under ``USE_TZ=True``, and its middleware tests
with ``SESSION_ENGINE``; these classes do the same for sessionary's engine,
as Django's own ``DatabaseSessionTests`` do for the database engine.

``SuiteRunner`` is Django's ``DiscoverRunner`` plus what CI needs around it:
the store's schema before the run, the namespace dropped after it, and each
test's outcome written as JSON for ``scripts/framework-suites``.
"""

from __future__ import annotations

import json
import os
import unittest
from typing import Any

from django.test import TestCase, override_settings
from django.test.runner import DiscoverRunner

# Django's own test package, extracted from its sdist by scripts/framework-suites.
from sessions_tests.tests import (  # type: ignore[import-not-found]
    SessionMiddlewareTests,
    SessionTestsMixin,
)

from sessionary.integrations.django import SessionStore, get_config

__all__ = ["SessionaryTests", "SessionaryWithTimeZoneTests", "SuiteRunner", "load_tests"]

# Two of Django's middleware tests are about its database backend, not about
# an engine: they build a DatabaseSession by hand or read Django's Session model.
NOT_ENGINE_TESTS = {"test_session_update_error_redirect", "test_empty_session_saved"}


class SessionaryTests(SessionTestsMixin, TestCase):  # type: ignore[misc]
    backend = SessionStore


@override_settings(USE_TZ=True)
class SessionaryWithTimeZoneTests(SessionaryTests):
    pass


def load_tests(
    loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None
) -> unittest.TestSuite:
    """The mixin in both time-zone modes, and Django's middleware tests on this engine."""
    suite = unittest.TestSuite()
    suite.addTests(loader.loadTestsFromTestCase(SessionaryTests))
    suite.addTests(loader.loadTestsFromTestCase(SessionaryWithTimeZoneTests))
    for name in loader.getTestCaseNames(SessionMiddlewareTests):
        if name not in NOT_ENGINE_TESTS:
            suite.addTest(SessionMiddlewareTests(name))
    return suite


Outcome = tuple[str, str]  # (passed | failed | skipped, first line of the reason)


class _RecordingResult(unittest.TextTestResult):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, Outcome] = {}

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().addSuccess(test)
        self.outcomes.setdefault(test.id(), ("passed", ""))

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addFailure(test, err)
        self.outcomes[test.id()] = ("failed", _reason(err))

    def addError(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addError(test, err)
        self.outcomes[test.id()] = ("failed", _reason(err))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self.outcomes[test.id()] = ("skipped", reason)

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.outcomes[test.id()] = ("failed", _reason(err))


def _reason(err: Any) -> str:
    exc_type, exc, _ = err
    text = f"{exc_type.__name__}: {exc}"
    return text.splitlines()[0][:300] if text else exc_type.__name__


class SuiteRunner(DiscoverRunner):  # type: ignore[misc]
    """Django's runner, with the sessionary store set up and torn down around it."""

    def get_resultclass(self) -> type[unittest.TextTestResult]:
        return _RecordingResult

    def setup_databases(self, **kwargs: Any) -> Any:
        get_config().store.migrate_sync()
        return super().setup_databases(**kwargs)

    def teardown_databases(self, old_config: Any, **kwargs: Any) -> None:
        super().teardown_databases(old_config, **kwargs)
        _drop_namespace()

    def run_suite(self, suite: unittest.TestSuite, **kwargs: Any) -> Any:
        result = super().run_suite(suite, **kwargs)
        with open(os.environ["SESSIONARY_SUITE_REPORT"], "w", encoding="utf-8") as f:
            json.dump(result.outcomes, f, indent=1, sort_keys=True)
        return result


def _drop_namespace() -> None:
    """Remove what this run wrote on a shared server (its table, its key prefix)."""
    store = get_config().store
    url = os.environ["SESSIONARY_SUITE_STORE"]
    table = os.environ.get("SESSIONARY_SUITE_TABLE")
    store.close()
    if table:
        import sqlalchemy as sa

        from sessionary.stores._sql import engine_urls

        engine = sa.create_engine(engine_urls(url)[0])
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()
    elif url.startswith("redis://"):
        import redis

        prefix = getattr(store, "prefix", None)
        if prefix:
            client = redis.Redis.from_url(url.split("?", 1)[0])
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)
            client.close()
