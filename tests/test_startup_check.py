"""At start-up (ASGI lifespan) a store that cannot serve is one clear log line, naming the fix."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sessionary import SessionConfig, SessionMiddleware
from sessionary.stores import from_url


async def home(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _app(config: SessionConfig) -> Starlette:
    return Starlette(
        routes=[Route("/", home)], middleware=[Middleware(SessionMiddleware, config=config)]
    )


def test_a_missing_table_is_one_line_at_start_up_naming_migrate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = from_url(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    with caplog.at_level(logging.ERROR, "sessionary"), TestClient(_app(SessionConfig(store=store))):
        pass
    (line,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.getMessage().startswith("session store not ready at start-up:")
    assert "sessionary migrate" in line.getMessage()
    assert line.exc_info is None  # one line, no traceback
    assert "\n" not in line.getMessage()


def test_a_ready_store_says_nothing_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = from_url(f"sqlite:///{tmp_path / 'ready.db'}")
    store.migrate_sync()
    with caplog.at_level(logging.DEBUG, "sessionary"), TestClient(_app(SessionConfig(store=store))):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_zero_config_default_creates_its_table_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SESSIONARY_STORE_URL", raising=False)
    app = Starlette(routes=[Route("/", home)], middleware=[Middleware(SessionMiddleware)])
    with caplog.at_level(logging.WARNING, "sessionary"), TestClient(app):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert (tmp_path / "sessionary.db").exists()
