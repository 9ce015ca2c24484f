"""Django settings for Django's own ``sessions_tests``, with sessionary as the engine.

What a Django user changes: ``SESSION_ENGINE`` and ``SESSIONARY``. The store
URL comes from ``scripts/framework-suites`` (one run per store); a SQL store
gets a table of its own so runs sharing a server never meet.
"""

from __future__ import annotations

import os

from sessionary.stores import from_url

SECRET_KEY = "django-sessions-tests-secret-key-0123456789abcdef"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    # sessions_tests.tests imports its models (a custom Django session model).
    "sessions_tests",
]
# Django's own test database: its test module imports the db backends' models.
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False  # as Django's test_sqlite.py; the suite re-runs under USE_TZ=True
TEST_RUNNER = "sessionary_suite_django.SuiteRunner"

SESSION_ENGINE = "sessionary.integrations.django"
_url = os.environ["SESSIONARY_SUITE_STORE"]
_table = os.environ.get("SESSIONARY_SUITE_TABLE")
SESSIONARY = {"store": from_url(_url, table=_table) if _table else _url}
