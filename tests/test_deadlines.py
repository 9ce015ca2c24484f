"""The per-operation deadline the stores run under, on its own: it fires on
time, cuts short a driver that cleans up slowly after being interrupted, and
never swallows a cancellation that is not its own."""

from __future__ import annotations

import asyncio
import time

import pytest

from sessionary.exceptions import ConfigurationError
from sessionary.stores._deadline import GRACE, AsyncDeadline, parse_seconds


async def test_an_operation_past_its_deadline_raises_timeout_error_on_time() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with AsyncDeadline(0.05).bound():
            await asyncio.sleep(5)
    assert time.monotonic() - started < 1


async def test_a_driver_that_cleans_up_slowly_is_interrupted_again() -> None:
    # Like psycopg: interrupted, it asks the server to cancel and waits for it.
    async def polite_driver() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            await asyncio.sleep(10)
            raise

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with AsyncDeadline(0.05).bound():
            await polite_driver()
    assert time.monotonic() - started < 0.05 + GRACE + 1
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # nothing left pending on the caller


async def test_a_cancellation_from_outside_still_cancels() -> None:
    async def request() -> None:
        async with AsyncDeadline(5).bound():
            await asyncio.sleep(5)

    task = asyncio.create_task(request())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_operation_within_its_deadline_is_untouched() -> None:
    async with AsyncDeadline(5).bound():
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)  # no stray cancellation arrives later


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_a_timeout_in_a_url_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_seconds("timeout", value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0?timeout=0.5",
        "redis+cluster://127.0.0.1:7000?timeout=0.5",
        "redis+sentinel://127.0.0.1:26379/mymaster/0?timeout=0.5",
        "memcached://127.0.0.1:11211?prefix=x:&timeout=0.5",
        "postgresql://u@127.0.0.1/db?timeout=0.5",
        "mysql://u@127.0.0.1/db?timeout=0.5&charset=utf8mb4",
    ],
)
def test_the_timeout_given_in_a_store_url_is_the_store_timeout(url: str) -> None:
    from sessionary.stores import from_url

    store = from_url(url)
    assert store.timeout == 0.5  # type: ignore[attr-defined]
    store.close()


def test_a_sql_url_timeout_is_the_stores_and_not_passed_to_the_driver() -> None:
    from sessionary.stores.database import DatabaseStore

    store = DatabaseStore(
        "postgresql://u@127.0.0.1/db?timeout=0.5&connect_timeout=0.25&sslmode=disable"
    )
    options = store._sync.engine_options  # the engine's own connect arguments
    assert store._sync.url.query == {"sslmode": "disable"}
    assert options["connect_args"]["connect_timeout"] == 1  # libpq takes whole seconds
    assert options["pool_timeout"] == 0.25
    store.close()
