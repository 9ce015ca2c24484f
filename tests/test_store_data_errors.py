"""A value the SQL server refuses is a data error, never an outage: ``StoreDataError``,
not ``StoreUnavailable``; the request is answered (neither 503 nor 500), its session
is not saved (as a session too large for its store), and no log line quotes the value."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sessionary._keys import new_key
from sessionary.exceptions import StoreDataError, StoreUnavailable
from sessionary.stores.base import Change, SessionRecord
from sessionary.stores.database import DatabaseStore

from .store_registry import STORES
from .test_store_limits import visitor

LONG = "refused-" + "u" * 400  # past the user_id column (255)


@pytest.fixture(params=["postgresql", "mysql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseStore]:
    async with STORES[request.param](tmp_path) as built:
        assert isinstance(built, DatabaseStore)
        yield built


def bind(now: float, user_id: str) -> Change:
    return Change({}, frozenset(), now, now + 3600, set_user=True, user_id=user_id)


async def test_a_value_too_long_for_its_column_is_a_data_error_not_an_outage(
    store: DatabaseStore,
) -> None:
    key, now = new_key(), store.clock()
    await store.save(key, SessionRecord("", {"a": "1"}, now, now, now + 3600))
    with pytest.raises(StoreDataError) as caught:
        await store.apply(key, bind(now, LONG))
    assert not isinstance(caught.value, StoreUnavailable)
    assert "refused the value" in str(caught.value)
    assert "uuu" not in str(caught.value)  # no parameters in the message
    with pytest.raises(StoreDataError):
        store.apply_sync(key, bind(now, LONG))
    # Nothing was written, and the store serves on.
    for record in (await store.load(key), store.load_sync(key)):
        assert record is not None
        assert record.user_id is None


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_a_login_the_database_refuses_answers_the_request_and_saves_nothing(
    store: DatabaseStore,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A store that declares no user-id limit: the database is the one to refuse.
    monkeypatch.setattr(DatabaseStore, "max_user_id_length", property(lambda self: None))
    get = visitor(store, kind)
    first = await get("/login?u=alice")
    assert first.status_code == 200
    with caplog.at_level(logging.DEBUG, logger="sessionary"):
        refused = await get(f"/login?u={LONG}")
    assert refused.status_code == 200  # not 503: the store is up; not 500
    assert "session not saved: database refused the value" in caplog.text
    assert "uuu" not in caplog.text
    after = await get("/whoami")
    assert after.status_code == 200
    assert after.json() != LONG  # nothing of the refused login was kept
    assert (await get("/login?u=bob")).status_code == 200  # and the visitor carries on
    assert (await get("/whoami")).json() == "bob"
