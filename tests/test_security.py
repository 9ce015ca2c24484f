"""Security promises as tests: key strength, no raw keys at rest or in logs,
fixation, cookie attribute rules, corrupted records."""

from __future__ import annotations

import logging
import math
import re
import string
from collections import Counter

import httpx
import pytest

from sessionary import ConfigurationError, Session, SessionConfig, SessionMiddleware, auth
from sessionary._keys import new_key
from sessionary.stores.base import SessionRecord
from sessionary.stores.memory import MemoryStore

from .apps import asgi_app
from .conftest import SECRET, FakeClock


def test_keys_carry_at_least_128_bits() -> None:
    alphabet = string.ascii_lowercase + string.digits
    assert 32 * math.log2(len(alphabet)) >= 128
    keys = [new_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    # Every character of the alphabet shows up at roughly its share.
    counts = Counter("".join(keys))
    assert set(counts) == set(alphabet)
    expected = 2000 * 32 / len(alphabet)
    assert all(0.8 * expected < n < 1.2 * expected for n in counts.values())


async def test_raw_key_never_in_store_logs_or_errors(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sessionary")
    store = MemoryStore(clock=clock)
    config = SessionConfig(store=store, secret_key=SECRET)
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        key = (await c.get("/set?a=1")).cookies["sessionid"]
        await c.get("/cycle", headers={"cookie": f"sessionid={key}"})
        await c.get("/get?a=", headers={"cookie": f"sessionid={key}x"})  # malformed
    assert key not in repr(store._records)
    assert key not in caplog.text
    s = Session(config, key)
    assert key not in repr(s)
    assert key not in repr(config)


async def test_planted_cookie_is_not_adopted_and_login_cycles(clock: FakeClock) -> None:
    config = SessionConfig(store=MemoryStore(clock=clock))
    planted = new_key()
    s = Session(config, planted)
    await s.load()
    assert s.session_key is None  # names no record: not adopted
    s["x"] = 1
    await s.save()
    assert s.session_key != planted
    before = s.session_key
    auth.login(s, "mallory-victim")
    await s.save()
    assert s.session_key not in (before, planted)


@pytest.mark.parametrize(
    "options",
    [
        {"cookie_samesite": "None"},
        {"cookie_name": "__Host-sid", "cookie_secure": True, "cookie_domain": "example.com"},
        {"cookie_name": "__Host-sid", "cookie_secure": True, "cookie_path": "/app"},
        {"cookie_name": "__Secure-sid"},
    ],
)
def test_unsafe_cookie_settings_fail_at_startup(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SessionConfig(store="memory://", **options)  # type: ignore[arg-type]


async def test_host_prefixed_cookie_is_sent_as_configured(clock: FakeClock) -> None:
    config = SessionConfig(
        store=MemoryStore(clock=clock), cookie_name="__Host-sid", cookie_secure=True
    )
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
        cookie = (await c.get("/set?a=1")).headers["set-cookie"]
    assert re.match(r"__Host-sid=[a-z0-9]{32}; ", cookie)
    assert "; secure" in cookie
    assert "; path=/" in cookie
    assert "domain" not in cookie


async def test_corrupted_record_loads_as_empty_session_with_a_security_log(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore(clock=clock)
    config = SessionConfig(store=store)
    key = new_key()
    now = clock()
    record = SessionRecord("", {"a": "{not json", "b": "2"}, now, now, now + 60, version=1)
    await store.save(key, record)
    caplog.set_level(logging.WARNING, logger="sessionary.security")
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        response = await c.get("/all", headers={"cookie": f"sessionid={key}"})
    assert response.status_code == 200
    assert response.json() == {"b": 2}
    assert "could not be decoded" in caplog.text


async def test_password_change_ends_other_sessions(clock: FakeClock) -> None:
    config = SessionConfig(store=MemoryStore(clock=clock))
    phone = Session(config)
    auth.login(phone, "dave", auth_hash="argon2$old")
    await phone.save()
    laptop = Session(config)
    auth.login(laptop, "dave", auth_hash="argon2$old")
    await laptop.save()
    # The password changes on the laptop; it logs in again with the new hash.
    auth.login(laptop, "dave", auth_hash="argon2$new")
    await laptop.save()
    stale = Session(config, phone.session_key)
    await stale.load()
    assert auth.get_user_id(stale, auth_hash="argon2$new") is None
    fresh = Session(config, laptop.session_key)
    await fresh.load()
    assert auth.get_user_id(fresh, auth_hash="argon2$new") == "dave"


def test_signatures_are_checked_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Timing is noise on a shared machine, so the test checks the mechanism:
    # every comparison of a client's MAC goes through hmac.compare_digest, once
    # per key (old and current), whether or not an earlier key matched.
    import hmac

    from sessionary import BadSignature, signing

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = signing.Signer(["current-secret-key", "old-secret-key"])
    signed = signer.sign("value")
    assert signer.unsign(signed) == "value"
    # The current key matched first; the old one, and both keys of the format
    # before the one derivation (the migration window), were still tried.
    assert len(calls) == 4
    calls.clear()
    with pytest.raises(BadSignature):
        signer.unsign(signed[:-1] + ("A" if signed[-1] != "A" else "B"))
    assert len(calls) == 4
