"""examples/fastapi_app.py: ``SessionDep``, messages and templates on FastAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from sessionary import Session, SessionConfig
from sessionary.exceptions import ConfigurationError
from sessionary.integrations.fastapi import SessionDep
from sessionary.stores import from_url

from .conftest import SECRET
from .examples import load_example, message_items, sqlite_store_url


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return sqlite_store_url(tmp_path)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    app = load_example("fastapi_app").create_app(SessionConfig(store=store_url, secret_key=SECRET))
    with TestClient(app) as client:
        yield client


def test_session_dependency_reads_and_writes(client: TestClient) -> None:
    assert "visit 1." in client.get("/").text
    assert "visit 2." in client.get("/").text
    assert client.get("/state").json() == {"visits": 2}


def test_flash_message_after_redirect_then_gone(client: TestClient) -> None:
    response = client.post("/name", data={"name": "Grace"})
    assert response.history[0].status_code == 303
    assert message_items(response.text) == ['class="success">Hello, Grace!']
    assert message_items(client.get("/").text) == []


def test_cycle_key_and_flush(client: TestClient, store_url: str) -> None:
    client.post("/name", data={"name": "Grace"})
    first = client.cookies["sessionid"]
    client.post("/cycle")
    second = client.cookies["sessionid"]
    assert second != first
    assert client.get("/state").json()["name"] == "Grace"
    response = client.post("/flush")
    assert message_items(response.text) == ['class="warning">Session forgotten.']
    assert client.get("/state").json() == {"visits": 1}
    store = from_url(store_url)
    assert not store.exists_sync(second)
    # The first key led to the second for the grace window: it opens nothing now.
    stale = Session(SessionConfig(store=store), first)
    stale.load_sync()
    assert stale.session_key is None


def test_missing_middleware_is_a_clear_error() -> None:
    app = FastAPI()

    @app.get("/")
    async def index(session: SessionDep) -> dict[str, str]:
        return {}

    with TestClient(app) as client, pytest.raises(ConfigurationError, match="SessionMiddleware"):
        client.get("/")


def test_dependency_gives_the_sessionary_session(store_url: str) -> None:
    from sessionary import SessionMiddleware

    app = FastAPI()
    app.add_middleware(SessionMiddleware, config=SessionConfig(store=store_url))

    @app.get("/")
    async def index(session: SessionDep) -> dict[str, str]:
        return {"type": type(session).__name__, "is": str(isinstance(session, Session))}

    with TestClient(app) as client:
        assert client.get("/").json() == {"type": "Session", "is": "True"}
