"""Claims: exactly one winner among concurrent racers, on every server-side store."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from sessionary._claims import claim, claim_key, read_claim, release, seal, unseal
from sessionary._keys import is_valid_key, new_key
from sessionary._ops import run_async, run_sync
from sessionary.events import SessionEvent
from sessionary.stores.base import Store

from .conftest import FakeClock


def _server_side(store: Store) -> None:
    if store.client_side:
        pytest.skip("a client-side store keeps no records to claim")


async def test_one_winner_among_twenty_concurrent_claims(store: Store, clock: FakeClock) -> None:
    _server_side(store)
    secret = new_key()
    won = await asyncio.gather(
        *(
            run_async(store, claim(secret, "race", now=clock(), ttl=60, value=f"v{n}"))
            for n in range(20)
        )
    )
    assert won.count(True) == 1
    winner = won.index(True)
    assert await run_async(store, read_claim(secret, "race")) == f"v{winner}"


async def test_one_winner_among_threads_through_the_sync_api(
    store: Store, clock: FakeClock
) -> None:
    _server_side(store)
    secret = new_key()

    def attempt(n: int) -> bool:
        return run_sync(store, claim(secret, "race", now=clock(), ttl=60, value=str(n)))

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(attempt, range(16)))
    assert won.count(True) == 1
    assert run_sync(store, read_claim(secret, "race")) == str(won.index(True))


async def test_claims_are_per_secret_and_purpose(store: Store, clock: FakeClock) -> None:
    _server_side(store)
    secret = new_key()
    assert await run_async(store, claim(secret, "a", now=clock(), ttl=60))
    assert await run_async(store, claim(secret, "b", now=clock(), ttl=60))
    assert await run_async(store, claim(new_key(), "a", now=clock(), ttl=60))
    assert not await run_async(store, claim(secret, "a", now=clock(), ttl=60))


async def test_an_expired_claim_reads_as_none(store: Store, clock: FakeClock) -> None:
    _server_side(store)
    secret = new_key()
    assert await run_async(store, claim(secret, "short", now=clock(), ttl=5, value="x"))
    assert await run_async(store, read_claim(secret, "short")) == "x"
    clock.advance(6)
    assert await run_async(store, read_claim(secret, "short")) is None


def test_claim_keys_look_like_session_keys_and_are_not_the_secret() -> None:
    secret = new_key()
    key = claim_key(secret, "rotation")
    assert is_valid_key(key)
    assert key != secret
    assert key == claim_key(secret, "rotation")
    assert key != claim_key(secret, "other")


def test_sealed_values_open_only_with_their_secret_and_purpose() -> None:
    secret, value = new_key(), new_key()
    sealed = seal(secret, "successor", value)
    assert value not in sealed
    assert unseal(secret, "successor", sealed) == value
    assert unseal(new_key(), "successor", sealed) is None
    assert unseal(secret, "other", sealed) is None
    tampered = ("0" if sealed[0] != "0" else "1") + sealed[1:]
    assert unseal(secret, "successor", tampered) is None
    assert unseal(secret, "successor", "not hex") is None
    assert unseal(secret, "successor", "00") is None
    with pytest.raises(ValueError, match="64 bytes"):
        seal(secret, "successor", "x" * 65)


async def test_claims_report_no_session_events(store: Store, clock: FakeClock) -> None:
    _server_side(store)
    seen: list[SessionEvent] = []
    secret = new_key()
    steps = claim(secret, "quiet", now=clock(), ttl=60, value="x")
    assert await run_async(store, steps, [seen.append])
    assert await run_async(store, read_claim(secret, "quiet"), [seen.append]) == "x"
    assert seen == []


async def test_a_released_claim_can_be_won_again(store: Store, clock: FakeClock) -> None:
    _server_side(store)
    secret = new_key()
    assert await run_async(store, claim(secret, "retry", now=clock(), ttl=60, value="first"))
    await run_async(store, release(secret, "retry"))
    assert await run_async(store, read_claim(secret, "retry")) is None
    assert run_sync(store, claim(secret, "retry", now=clock(), ttl=60, value="second"))
    assert await run_async(store, read_claim(secret, "retry")) == "second"
