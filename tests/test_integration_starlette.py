"""examples/starlette_app.py through Starlette's TestClient: SPEC sections 4 and 5."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sessionary import SessionConfig
from sessionary._rotation import MARKER
from sessionary.stores import from_url

from .conftest import SECRET
from .examples import load_example, message_items, sqlite_store_url


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return sqlite_store_url(tmp_path)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    app = load_example("starlette_app").create_app(
        SessionConfig(store=store_url, secret_key=SECRET)
    )
    with TestClient(app) as client:
        yield client


def test_session_is_written_and_read_back(client: TestClient) -> None:
    first = client.get("/")
    assert "visit 1." in first.text
    assert "sessionid" in client.cookies
    assert "visit 2." in client.get("/").text
    assert client.get("/state").json() == {"visits": 2}


def test_flash_message_shows_once_after_the_redirect(client: TestClient) -> None:
    response = client.post("/name", data={"name": "Ada"})
    assert response.history[0].status_code == 303
    assert message_items(response.text) == ['class="success">Hello, Ada!']
    assert "Hello Ada" in response.text
    assert message_items(client.get("/").text) == []
    assert client.get("/state").json()["name"] == "Ada"


def test_cycle_key_keeps_data_and_retires_the_old_key(client: TestClient, store_url: str) -> None:
    client.post("/name", data={"name": "Ada"})
    old = client.cookies["sessionid"]
    response = client.post("/cycle")
    new = client.cookies["sessionid"]
    assert new != old
    assert message_items(response.text) == ['class="info">New session key, same data.']
    assert client.get("/state").json()["name"] == "Ada"
    store = from_url(store_url)
    # The old record only points at the new session, for the grace window.
    record = store.load_sync(old)
    assert record is None or MARKER in record.meta
    assert store.exists_sync(new)


def test_flush_forgets_everything_but_the_farewell_message(
    client: TestClient, store_url: str
) -> None:
    client.post("/name", data={"name": "Ada"})
    old = client.cookies["sessionid"]
    response = client.post("/flush")
    assert message_items(response.text) == ['class="warning">Session forgotten.']
    assert "Hello stranger" in response.text
    assert client.get("/state").json() == {"visits": 1}
    assert client.cookies["sessionid"] != old
    assert not from_url(store_url).exists_sync(old)
