"""Log lines never carry session data or SQL parameters.

A save the database refuses is logged by the middleware (a data error: the
response goes out, the session is not saved, no cookie is set); neither the
message nor the chained driver error may quote the session's values
(SQLAlchemy renders statement parameters into its errors unless told not to;
PostgreSQL's own message quotes the failing row).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from sessionary import SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary.stores import from_url
from sessionary.stores._sql import engine_urls
from sessionary.stores.base import Store

from .apps import asgi_app, wsgi_app
from .store_registry import require_server

SECRET_VALUE = "TOPSECRET-4242"
SERVERS = {
    "postgresql": ("postgresql://postgres@127.0.0.1:5432/test", 5432),
    "mysql": ("mysql://root@127.0.0.1:3306/test", 3306),
}


@pytest.fixture(params=sorted(SERVERS))
def refusing_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A SQL store whose table refuses any row holding the secret value."""
    url, port = SERVERS[str(request.param)]
    require_server("127.0.0.1", port, str(request.param))
    table = f"sessionary_logs_{uuid.uuid4().hex[:10]}"
    store = from_url(url, table=table)
    store.migrate_sync()
    direct = sa.create_engine(engine_urls(url)[0])
    with direct.begin() as conn:
        conn.execute(
            sa.text(
                f"ALTER TABLE {table} ADD CONSTRAINT no_secret"
                f" CHECK (payload NOT LIKE '%{SECRET_VALUE}%')"
            )
        )
    yield store
    store.close()
    with direct.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    direct.dispose()


def _assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    # Every line but the test's own HTTP client's (which logs the URL it requested).
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.levelno >= logging.ERROR for r in records), "the failing save was not logged"
    for record in records:
        assert SECRET_VALUE not in caplog.handler.format(record)


async def test_a_refused_save_logs_no_session_value_asgi(
    refusing_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = SessionConfig(store=refusing_store, secret_key="s" * 40)
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(f"/set?card={SECRET_VALUE}")
    finally:
        await refusing_store.aclose()  # before the table is dropped
    assert response.status_code == 200  # a refused value is a data error, not an outage
    assert "set-cookie" not in response.headers
    _assert_clean(caplog)


def test_a_refused_save_logs_no_session_value_wsgi(
    refusing_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = SessionConfig(store=refusing_store, secret_key="s" * 40)
    transport = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))
    with httpx.Client(transport=transport, base_url="http://t") as client:
        response = client.get(f"/set?card={SECRET_VALUE}")
    assert response.status_code == 200  # a refused value is a data error, not an outage
    assert "set-cookie" not in response.headers
    _assert_clean(caplog)
