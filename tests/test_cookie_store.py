"""The cookie store, over HTTP through both middlewares: the session lives in
the cookie, sealed (or signed), expiring from inside, rotating keys, and never
turning a bad cookie into an error."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import pytest

from sessionary import SessionConfig, SessionMiddleware
from sessionary.exceptions import ConfigurationError, SessionTooLarge
from sessionary.stores import from_url
from sessionary.stores.cookie import DJANGO_SALT, CookieStore, CookieTooLarge

from .apps import asgi_app
from .conftest import SECRET, Client, FakeClock

OLD_SECRET = "o" * 40


@pytest.fixture(params=["encrypted", "signed"])
def store(request: pytest.FixtureRequest, clock: FakeClock) -> CookieStore:
    """Replaces the suite's store fixture: ``make_client`` serves a cookie store."""
    built = CookieStore(mode=request.param)
    built.clock = clock
    return built


async def test_session_round_trips_in_the_cookie(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?color=blue")
    response = await client.get("/get?color=")
    assert response.json() == {"color": "blue"}


async def test_session_key_is_a_stable_random_id(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1")
    first = (await client.get("/key")).json()
    assert len(first) == 32
    await client.get("/set?b=2")
    assert (await client.get("/key")).json() == first
    await client.get("/cycle")
    assert (await client.get("/key")).json() not in (first, None)


async def test_encrypted_cookie_shows_no_stored_value(
    make_client: Callable[..., Client], store: CookieStore
) -> None:
    client = make_client()
    response = await client.get("/set?card=plaintext-canary-4242")
    value = client.cookies["sessionid"]
    assert "plaintext-canary" not in response.headers["set-cookie"]
    body = value.split(":")[0]  # the signed mode's payload is the part before the timestamp
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    if store.mode == "encrypted":
        assert b"plaintext-canary" not in raw
        assert b"card" not in raw
    else:  # signed: readable by design (Django's format), but not changeable
        assert b"plaintext-canary" in raw


@pytest.mark.parametrize(
    "damage",
    [
        # Not the last character: its low bits may be base64 padding that decodes the same.
        pytest.param(lambda v: v[:-5] + ("A" if v[-5] != "A" else "B") + v[-4:], id="tampered-end"),
        pytest.param(lambda v: v[:10] + ("x" if v[10] != "x" else "y") + v[11:], id="tampered"),
        pytest.param(lambda v: v[: len(v) // 2], id="truncated"),
        pytest.param(lambda v: "", id="empty"),
        pytest.param(lambda v: "garbage!!", id="garbage"),
    ],
)
async def test_bad_cookie_is_a_fresh_empty_session(
    make_client: Callable[..., Client],
    damage: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client()
    await client.get("/set?secret=1")
    client.cookies["sessionid"] = damage(client.cookies["sessionid"])
    with caplog.at_level(logging.INFO, logger="sessionary.security"):
        response = await client.get("/all")
    assert response.status_code == 200
    assert response.json() == {}
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert any(r.name == "sessionary.security" for r in caplog.records)


async def test_expired_cookie_is_refused_from_inside(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(cookie_age=60)
    await client.get("/set?a=1")
    clock.advance(61)  # the browser ignored Max-Age and replays the cookie
    response = await client.get("/all")
    assert response.status_code == 200
    assert response.json() == {}
    assert "Max-Age=0" in response.headers["set-cookie"]


async def test_idle_timeout_applies_to_cookie_sessions(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client(idle_timeout=100)
    await client.get("/set?a=1")
    clock.advance(101)
    assert (await client.get("/all")).json() == {}


async def test_flush_deletes_the_cookie(make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.get("/set?a=1")
    response = await client.get("/flush")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert "sessionid" not in client.cookies


async def test_old_secret_is_read_and_reissued_under_the_current_one(
    clock: FakeClock, store: CookieStore
) -> None:
    mode = store.mode
    old = Client(_asgi_send(_config(mode, clock, OLD_SECRET)))
    await old.get("/set?kept=yes")
    cookie = old.cookies["sessionid"]

    rotated = Client(_asgi_send(_config(mode, clock, SECRET, fallbacks=[OLD_SECRET])))
    rotated.cookies["sessionid"] = cookie
    response = await rotated.get("/get?kept=")
    assert response.json() == {"kept": "yes"}
    assert rotated.cookies["sessionid"] != cookie  # re-issued on that response

    current_only = Client(_asgi_send(_config(mode, clock, SECRET)))
    current_only.cookies["sessionid"] = rotated.cookies["sessionid"]
    assert (await current_only.get("/get?kept=")).json() == {"kept": "yes"}
    current_only.cookies["sessionid"] = cookie
    assert (await current_only.get("/get?kept=")).json() == {"kept": None}


def _config(mode: str, clock: FakeClock, secret: str, fallbacks: list[str] | None = None) -> Any:
    store = CookieStore(mode=mode)
    store.clock = clock
    return SessionConfig(store=store, secret_key=secret, secret_key_fallbacks=fallbacks or [])


def _asgi_send(config: SessionConfig) -> Callable[..., Any]:
    import httpx

    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))

    async def send(path: str, headers: dict[str, str], cookies: dict[str, str]) -> Any:
        if cookies:
            headers = {**headers, "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get(path, headers=headers)

    return send


def test_assigning_more_than_a_cookie_holds_raises_naming_the_size(store: CookieStore) -> None:
    from sessionary import Session

    session = Session(SessionConfig(store=store, secret_key=SECRET))
    session["small"] = "ok"
    noise = secrets.token_urlsafe(3500)  # random: compression cannot save it
    with pytest.raises(SessionTooLarge) as caught:
        session["big"] = noise
    assert isinstance(caught.value, CookieTooLarge)
    assert caught.value.size > 4096
    assert str(caught.value.size) in str(caught.value)
    assert "4096" in str(caught.value)
    assert "big" not in session  # the assignment did not happen
    session.save_sync()  # what is left still fits


def test_growing_a_nested_value_past_the_limit_fails_at_save(store: CookieStore) -> None:
    from sessionary import Session

    session = Session(SessionConfig(store=store, secret_key=SECRET))
    session["items"] = []
    session["items"].extend(secrets.token_hex(8) for _ in range(400))
    with pytest.raises(CookieTooLarge):
        asyncio.run(session.save())


def test_large_compressible_session_fits(store: CookieStore) -> None:
    from sessionary import Session

    session = Session(SessionConfig(store=store, secret_key=SECRET))
    session["text"] = "sessionary " * 600  # 6.6 KB of text, compressed below 4 KB
    session.save_sync()
    value = store.cookie_value(session.session_key or "", session._record)
    assert len(value) < 4096


def test_cookie_urls_and_mode_validation() -> None:
    assert from_url("cookie://").mode == "encrypted"  # type: ignore[attr-defined]
    assert from_url("cookie://?mode=signed").mode == "signed"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError):
        from_url("cookie://?mode=plain")
    with pytest.raises(ConfigurationError, match="secret_key"):
        SessionConfig(store="cookie://")


def test_a_store_refuses_a_second_config_with_other_secrets() -> None:
    store = CookieStore()
    SessionConfig(store=store, secret_key=SECRET)
    SessionConfig(store=store, secret_key=SECRET, cookie_age=60)  # same secrets: fine
    with pytest.raises(ConfigurationError):
        SessionConfig(store=store, secret_key=OLD_SECRET)


# -- Django compatibility of the signed mode ------------------------------------


@pytest.fixture
def django_signing() -> Any:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(SECRET_KEY=SECRET)
    from django.core import signing

    return signing


def test_signed_mode_is_read_by_django(django_signing: Any) -> None:
    from sessionary import Session

    store = CookieStore(mode="signed")
    session = Session(SessionConfig(store=store, secret_key=SECRET))
    session["cart"] = ["apple", "pear"]
    session.save_sync()
    value = store.cookie_value(session.session_key or "", session._record)
    data = django_signing.loads(
        value, key=SECRET, salt=DJANGO_SALT, serializer=django_signing.JSONSerializer
    )
    assert data["cart"] == ["apple", "pear"]


def test_signed_mode_reads_a_django_session_cookie(django_signing: Any) -> None:
    store = CookieStore(mode="signed")
    SessionConfig(store=store, secret_key=SECRET)
    value = django_signing.dumps(
        {"_auth_user_id": "7", "note": "x" * 300},
        key=SECRET,
        salt=DJANGO_SALT,
        serializer=django_signing.JSONSerializer,
        compress=True,
    )
    found = store.read_cookie(value)
    assert found is not None
    key, record, rotated = found
    assert len(key) == 32
    assert not rotated
    assert json.loads(record.data["_auth_user_id"]) == "7"


async def test_clear_and_deleting_the_last_key_keep_the_session(
    make_client: Callable[..., Client],
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    key = (await client.get("/key")).json()
    response = await client.get("/clear")
    assert "sessionid=" in response.headers["set-cookie"]
    assert "Max-Age=0" not in response.headers["set-cookie"]
    assert (await client.get("/key")).json() == key
    await client.get("/set?b=1")
    await client.get("/del?b=")
    assert (await client.get("/key")).json() == key
    assert (await client.get("/all")).json() == {}


async def test_cookie_carries_configured_attributes(make_client: Callable[..., Client]) -> None:
    client = make_client(
        cookie_name="__Host-sid", cookie_secure=True, cookie_samesite="Strict", cookie_age=600
    )
    header = (await client.get("/set?a=1")).headers["set-cookie"]
    assert header.startswith("__Host-sid=")
    for part in ("Max-Age=600", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"):
        assert part in header
    assert (await client.get("/get?a=")).json() == {"a": "1"}


async def test_browser_close_expiry_gives_a_session_cookie(
    make_client: Callable[..., Client], clock: FakeClock
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    header = (await client.get("/expiry?v=0")).headers["set-cookie"]
    assert "Max-Age" not in header
    clock.advance(3600)
    assert (await client.get("/get?a=")).json() == {"a": "1"}


async def test_untouched_cookie_session_is_not_reissued(
    make_client: Callable[..., Client],
) -> None:
    client = make_client()
    await client.get("/set?a=1")
    response = await client.get("/get?a=")
    assert "set-cookie" not in response.headers
