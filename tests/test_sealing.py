"""One signing primitive: one key derivation for every purpose, every key tried,
cookies bound to their name, and the formats before it still open during the
migration window."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sessionary import BadSignature, Session, SessionConfig, SessionMiddleware
from sessionary.cookies import get_signed_cookie, set_signed_cookie
from sessionary.messages import _signing as messages_signing
from sessionary.signing import Signer, TimestampSigner, derive_key, matching_key
from sessionary.stores.cookie import CookieStore

from .apps import asgi_app
from .conftest import SECRET, FakeClock

MODES = ["encrypted", "signed"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def config(clock: FakeClock, mode: str = "encrypted", **options: Any) -> SessionConfig:
    options.setdefault("secret_key", SECRET)
    store_options = {k: options.pop(k) for k in ("accept_legacy",) if k in options}
    return SessionConfig(store=CookieStore(mode, clock=clock, **store_options), **options)  # type: ignore[arg-type]


async def get(cfg: SessionConfig, path: str, cookie: str | None = None) -> httpx.Response:
    headers = {"cookie": f"{cfg.cookie_name}={cookie}"} if cookie is not None else {}
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, cfg))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


def sealed_value(response: httpx.Response, name: str = "sessionid") -> str:
    header = response.headers["set-cookie"]
    assert header.startswith(f"{name}=")
    return header.split(";", 1)[0].split("=", 1)[1]


# -- the derivation ------------------------------------------------------------


def test_the_one_derivation_is_hkdf_sha256() -> None:
    expected = HKDF(algorithm=SHA256(), length=32, salt=b"sessionary/v2", info=b"a purpose")
    assert derive_key(SECRET, "a purpose") == expected.derive(SECRET.encode())


def test_each_purpose_gets_an_unrelated_key() -> None:
    purposes = ["sessionary.signing:", "messages:messages", "cookie-store:encrypted:sessionid"]
    keys = {derive_key(SECRET, purpose) for purpose in purposes}
    assert len(keys) == len(purposes)
    assert SECRET.encode() not in keys


def test_every_key_is_tried_even_after_one_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    keys = [os.urandom(32) for _ in range(3)]
    given = hmac.new(keys[0], b"data", hashlib.sha256).digest()
    assert matching_key(keys, b"data", given) == 0
    assert len(calls) == 3


def test_the_signer_reports_which_key_signed() -> None:
    old = Signer(["old-secret"])
    both = Signer(["new-secret", "old-secret"])
    assert both.verify(both.sign("v")) == ("v", 0)
    assert both.verify(old.sign("v")) == ("v", 1)


def test_a_signature_spelled_differently_does_not_verify() -> None:
    signer = Signer([SECRET])
    value, _, mac = signer.sign("v").rpartition(":")
    for spelling in (mac + "=", mac + "*", "*" + mac):
        with pytest.raises(BadSignature):
            signer.unsign(f"{value}:{spelling}")


# -- AES-GCM and signed mode bind the cookie name ----------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_a_cookie_sealed_under_one_name_does_not_open_under_another(
    mode: str, clock: FakeClock
) -> None:
    first = config(clock, mode)
    second = config(clock, mode, cookie_name="other")  # same secret, another purpose
    value = sealed_value(await get(first, "/set?who=alice"))
    assert (await get(first, "/get?who=", value)).json() == {"who": "alice"}
    refused = await get(second, "/get?who=", value)
    assert refused.status_code == 200
    assert refused.json() == {"who": None}


def test_the_cookie_name_is_authenticated_as_associated_data(clock: FakeClock) -> None:
    cfg = config(clock)
    session = Session(cfg)
    session["a"] = 1
    session.save_sync()
    assert session.carried is not None
    version, _, sealed = session.carried.partition(".")
    assert version == "2"
    blob = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    key = derive_key(SECRET, "cookie-store:encrypted:sessionid")
    aad = b"sessionary cookie-store:encrypted:sessionid"
    assert AESGCM(key).decrypt(blob[:12], blob[12:], aad)[:1] in (b"f", b"g")
    for wrong in (None, b"sessionary cookie-store:encrypted:other"):
        with pytest.raises(InvalidTag):
            AESGCM(key).decrypt(blob[:12], blob[12:], wrong)


# -- the migration window ----------------------------------------------------------


def legacy_cookie(mode: str, secret: str, data: dict[str, Any], now: float) -> str:
    """A cookie exactly as the cookie store sealed it before the one derivation."""
    record = [
        "k" * 32,
        {name: json.dumps(value) for name, value in data.items()},
        {},
        now,
        now,
        now + 600,
        None,
        1,
    ]
    body = b"j" + json.dumps(record, separators=(",", ":")).encode()
    purpose = b"encryption" if mode == "encrypted" else b"signing"
    key = HKDF(
        algorithm=SHA256(), length=32, salt=b"sessionary.stores.cookie", info=purpose
    ).derive(secret.encode())
    if mode == "encrypted":
        nonce = os.urandom(12)
        return f"1.{b64(nonce + AESGCM(key).encrypt(nonce, body, None))}"
    payload = b64(body)
    return f"s1.{payload}.{b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize("mode", MODES)
async def test_a_cookie_sealed_in_the_old_format_opens_and_is_reissued_in_the_new(
    mode: str, clock: FakeClock
) -> None:
    cfg = config(clock, mode)
    old = legacy_cookie(mode, SECRET, {"who": "alice"}, clock())
    response = await get(cfg, "/get?who=", old)
    assert response.json() == {"who": "alice"}
    fresh = sealed_value(response)  # re-issued on this very response
    assert fresh.split(".", 1)[0] == ("2" if mode == "encrypted" else "s2")
    closed = config(clock, mode, accept_legacy=False)
    assert (await get(closed, "/get?who=", fresh)).json() == {"who": "alice"}


@pytest.mark.parametrize("mode", MODES)
async def test_closing_the_migration_window_refuses_the_old_format(
    mode: str, clock: FakeClock
) -> None:
    closed = config(clock, mode, accept_legacy=False)
    old = legacy_cookie(mode, SECRET, {"who": "alice"}, clock())
    assert (await get(closed, "/get?who=", old)).json() == {"who": None}


def test_the_migration_window_closes_from_the_url() -> None:
    from sessionary.stores import from_url

    store = from_url("cookie://?legacy=off")
    assert isinstance(store, CookieStore)
    assert store.accept_legacy is False
    assert isinstance(from_url("cookie://"), CookieStore)
    assert from_url("cookie://").accept_legacy is True  # type: ignore[attr-defined]


def test_a_signed_cookie_set_before_the_change_still_verifies() -> None:
    # The format TimestampSigner wrote before the one derivation.
    salt = "cookie:prefs"
    key = hashlib.sha256(f"sessionary.signing{salt}{SECRET}".encode()).digest()
    value = f"dark:{int(1e9):x}"
    old = f"{value}:{b64(hmac.new(key, value.encode(), hashlib.sha256).digest())}"
    assert get_signed_cookie({"prefs": old}, "prefs", secret=SECRET) == "dark"
    headers: list[tuple[str, str]] = []
    set_signed_cookie(headers, "prefs", "dark", secret=SECRET)
    new = headers[0][1].split(";", 1)[0].split("=", 1)[1]
    assert new != old
    assert get_signed_cookie({"prefs": new}, "prefs", secret=SECRET) == "dark"
    signer = TimestampSigner([SECRET], salt=salt)
    assert signer.is_legacy(signer.verify(old)[1])
    assert not signer.is_legacy(signer.verify(new)[1])


def test_a_messages_cookie_signed_before_the_change_still_opens() -> None:
    payload = b64(b'[["m",20,"hello",""]]')
    legacy_key = hmac.new(SECRET.encode(), b"sessionary.messages", hashlib.sha256).digest()
    old = f"{payload}.{b64(hmac.new(legacy_key, payload.encode(), hashlib.sha256).digest())}"
    assert messages_signing.unsign(old, [SECRET]) == '[["m",20,"hello",""]]'


def test_a_messages_cookie_does_not_open_under_another_cookie_name() -> None:
    signed = messages_signing.sign("[]", SECRET, "messages")
    assert messages_signing.unsign(signed, [SECRET], "messages") == "[]"
    with pytest.raises(BadSignature):
        messages_signing.unsign(signed, [SECRET], "flash")
