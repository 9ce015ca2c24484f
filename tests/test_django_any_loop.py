"""Django's async session API under WSGI: each call runs through asgiref's
``async_to_sync``, on a loop of its own, over one store (Django's own session
tests hit this on Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from . import test_integration_django as _configured  # noqa: F401 - settings.configure()
from .conftest import SECRET
from .store_registry import require_server


@pytest.fixture(params=["redis", "mysql", "memcached"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    prefix = f"sessionary-django-{uuid.uuid4().hex[:8]}:"
    if request.param == "redis":
        require_server("127.0.0.1", 6379, "Redis")
        url = f"redis://127.0.0.1:6379/0?prefix={prefix}"
    elif request.param == "memcached":
        require_server("127.0.0.1", 11211, "Memcached")
        url = f"memcached://127.0.0.1:11211?prefix={prefix}"
    else:
        require_server("127.0.0.1", 3306, "MariaDB")
        url = "mysql://root@127.0.0.1:3306/test"
    from sessionary.stores import from_url

    table = f"sessionary_django_{uuid.uuid4().hex[:8]}"  # a namespace of this test's own
    store = from_url(url, table=table) if request.param == "mysql" else from_url(url)
    store.migrate_sync()
    with override_settings(SESSIONARY={"store": store, "secret_key": SECRET}):
        yield url
    store.close()
    if request.param == "mysql":
        import sqlalchemy as sa

        from sessionary.stores._sql import engine_urls

        engine = sa.create_engine(engine_urls(url)[0])
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_async_session_api_through_async_to_sync_on_a_loop_per_call(store_url: str) -> None:
    from sessionary.integrations.django import SessionStore

    async def write() -> str:
        session = SessionStore()
        await session.aset("via", "async_to_sync")
        await session.asave()
        return str(session.session_key)

    async def read(key: str) -> object:
        return await SessionStore(key).aget("via")

    key = async_to_sync(write)()
    for _ in range(3):
        assert async_to_sync(read)(key) == "async_to_sync"
    assert SessionStore(key).get("via") == "async_to_sync"  # and the sync path agrees
