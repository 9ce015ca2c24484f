"""A cap on each user's live sessions (``max_sessions_per_user``): a login over
it ends the user's least recently seen sessions, or is refused."""

from __future__ import annotations

from typing import Any

import pytest

from sessionary import Session, SessionConfig, auth
from sessionary.exceptions import ConfigurationError, TooManySessions
from sessionary.stores.base import Store

from .conftest import SECRET, FakeClock


async def _signed_in(config: SessionConfig, clock: FakeClock) -> Session:
    s = Session(config)
    s["device"] = True
    await auth.alogin(s, "ada")
    await s.save()
    clock.advance(10)
    return s


async def test_a_login_over_the_cap_ends_the_least_recently_seen_sessions(
    store: Store, clock: FakeClock
) -> None:
    config = SessionConfig(store=store, secret_key=SECRET, max_sessions_per_user=2)
    first = await _signed_in(config, clock)
    second = await _signed_in(config, clock)
    # The first device is used again: the second is now the least recently seen.
    again = Session(config, first.session_key)
    await again.load()
    again["seen"] = 1
    await again.save()
    clock.advance(10)
    third = await _signed_in(config, clock)
    listed = {info.session_id for info in await store.sessions_for("ada")}
    assert listed == {again.key_hash, third.key_hash}
    assert second.session_key is not None
    assert not await store.exists(second.session_key)


async def test_with_refuse_a_login_over_the_cap_raises_and_changes_nothing(
    store: Store, clock: FakeClock
) -> None:
    config = SessionConfig(
        store=store, secret_key=SECRET, max_sessions_per_user=2, on_session_limit="refuse"
    )
    first = await _signed_in(config, clock)
    await _signed_in(config, clock)
    third = Session(config)
    third["device"] = True
    with pytest.raises(TooManySessions) as caught:
        await auth.alogin(third, "ada")
    assert caught.value.limit == 2
    assert third.user_id is None
    assert third.session_key is None
    assert len(await store.sessions_for("ada")) == 2
    # Logging in again on a device that holds one of the sessions replaces it.
    relog = Session(config, first.session_key)
    await relog.load()
    await auth.alogin(relog, "ada")
    await relog.save()
    assert len(await store.sessions_for("ada")) == 2


def test_login_sync_holds_the_cap_on_the_sync_store_api(clock: FakeClock, tmp_path: object) -> None:
    config = SessionConfig(store=f"sqlite:///{tmp_path}/s.db", clock=clock, max_sessions_per_user=1)
    config.store.migrate_sync()
    sessions = []
    for _ in range(3):
        s = Session(config)
        auth.login_sync(s, "ada")
        s.save_sync()
        clock.advance(1)
        sessions.append(s)
    (only,) = config.store.sessions_for_sync("ada")
    assert only.session_id == sessions[-1].key_hash
    config.store.close()


def test_plain_login_refuses_a_cap_it_cannot_count(clock: FakeClock) -> None:
    config = SessionConfig(store="memory://", clock=clock, max_sessions_per_user=3)
    with pytest.raises(ConfigurationError, match="alogin"):
        auth.login(Session(config), "ada")


def test_the_cap_and_its_policy_are_checked_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="max_sessions_per_user"):
        SessionConfig(store="memory://", max_sessions_per_user=0)
    with pytest.raises(ConfigurationError, match="on_session_limit"):
        SessionConfig(store="memory://", on_session_limit="ignore")  # type: ignore[arg-type]


async def test_a_refused_login_reaches_the_visitor_as_the_apps_answer(clock: FakeClock) -> None:
    import httpx

    from sessionary import SessionMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        session: Session = scope["session"]
        status = 200
        try:
            await auth.alogin(session, "ada")
        except TooManySessions:
            status = 409  # "sign out another device first"
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = SessionConfig(
        store="memory://", clock=clock, max_sessions_per_user=1, on_session_limit="refuse"
    )
    transport = httpx.ASGITransport(SessionMiddleware(app, config))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as laptop,
        httpx.AsyncClient(transport=transport, base_url="http://t") as phone,
    ):
        assert (await laptop.get("/")).status_code == 200
        refused = await phone.get("/")
        assert refused.status_code == 409
        assert "set-cookie" not in refused.headers
        assert (await laptop.get("/")).status_code == 200
