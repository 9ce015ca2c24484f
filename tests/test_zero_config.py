"""Zero configuration: with no store given, every edge works in a fresh
directory without ``sessionary migrate``; the embedded SQLite default creates
its table on first use, once per process."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, session

from sessionary import SessionMiddleware, WSGISessionMiddleware
from sessionary.integrations.flask import init_app
from sessionary.stores.database import DatabaseStore

from .apps import asgi_app, wsgi_app


@pytest.fixture
def fresh_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SESSIONARY_STORE_URL", "SESSIONARY_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def migrations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the schema creations the stores really run."""
    calls: list[str] = []
    sync_migrate, async_migrate = DatabaseStore.migrate_sync, DatabaseStore.migrate

    def counted_sync(self: DatabaseStore) -> None:
        calls.append("sync")
        sync_migrate(self)

    async def counted_async(self: DatabaseStore) -> None:
        calls.append("async")
        await async_migrate(self)

    monkeypatch.setattr(DatabaseStore, "migrate_sync", counted_sync)
    monkeypatch.setattr(DatabaseStore, "migrate", counted_async)
    return calls


async def test_asgi_middleware_with_no_configuration(
    fresh_directory: Path, migrations: list[str]
) -> None:
    middleware = SessionMiddleware(asgi_app)
    transport = httpx.ASGITransport(middleware)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/set?a=1")
        await client.get("/set?b=2")
        assert (await client.get("/get?a=&b=")).json() == {"a": "1", "b": "2"}
    await middleware.store.aclose()
    middleware.store.close()
    assert (fresh_directory / "sessionary.db").is_file()
    assert migrations == ["async"]


def test_wsgi_middleware_with_no_configuration(
    fresh_directory: Path, migrations: list[str]
) -> None:
    middleware = WSGISessionMiddleware(wsgi_app)
    with httpx.Client(transport=httpx.WSGITransport(middleware), base_url="http://t") as client:
        client.get("/set?a=1")
        client.get("/set?b=2")
        assert client.get("/get?a=&b=").json() == {"a": "1", "b": "2"}
    middleware.store.close()
    assert (fresh_directory / "sessionary.db").is_file()
    assert migrations == ["sync"]


def test_flask_init_app_with_no_configuration(fresh_directory: Path, migrations: list[str]) -> None:
    app = Flask(__name__)
    interface = init_app(app)

    @app.get("/add/<item>")
    def add(item: str) -> Any:
        session["items"] = [*session.get("items", []), item]
        return session["items"]

    client = app.test_client()
    client.get("/add/a")
    assert client.get("/add/b").json == ["a", "b"]
    interface.config.store.close()
    assert (fresh_directory / "sessionary.db").is_file()
    assert migrations == ["sync"]


def test_a_store_given_by_url_is_not_migrated_behind_the_operators_back(
    fresh_directory: Path, migrations: list[str]
) -> None:
    # Only the embedded default creates its schema: a named database is the
    # operator's, and ``sessionary migrate`` creates its table.
    middleware = WSGISessionMiddleware(wsgi_app, store="sqlite:///named.db")
    with httpx.Client(transport=httpx.WSGITransport(middleware), base_url="http://t") as client:
        response = client.get("/set?a=1")
    middleware.store.close()
    assert response.status_code == 503
    assert migrations == []


def test_a_missing_table_is_one_line_naming_the_command(
    fresh_directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = WSGISessionMiddleware(wsgi_app, store="sqlite:///named.db")
    caplog.set_level(logging.INFO, logger="sessionary")
    with httpx.Client(transport=httpx.WSGITransport(middleware), base_url="http://t") as client:
        client.get("/set?a=1")
    middleware.store.close()
    assert len(caplog.records) == 1
    assert "sessionary migrate" in caplog.text
    assert "Traceback" not in caplog.text


def test_the_environment_fills_what_the_arguments_leave_out(
    fresh_directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No silent fallback to SQLite when the deployment names a store.
    from sessionary.stores.memory import MemoryStore

    monkeypatch.setenv("SESSIONARY_STORE_URL", "memory://")
    monkeypatch.setenv("SESSIONARY_COOKIE_SECURE", "true")
    asgi = SessionMiddleware(asgi_app, https_only=False)
    wsgi = WSGISessionMiddleware(wsgi_app)
    assert isinstance(asgi.store, MemoryStore)
    assert isinstance(wsgi.store, MemoryStore)
    assert asgi.config.cookie_secure is False  # an argument beats the environment
    assert wsgi.config.cookie_secure is True
    assert asgi.config.cookie_name == "session"
    monkeypatch.setenv("SESSIONARY_COOKIE_NAME", "sid")
    assert SessionMiddleware(asgi_app).config.cookie_name == "sid"
    assert not (fresh_directory / "sessionary.db").exists()
