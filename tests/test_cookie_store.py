"""The cookie store: sealed, tamper-proof, expiring from inside, rotated, bounded."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionary import (
    Session,
    SessionConfig,
    SessionMiddleware,
    SessionTooLarge,
    WSGISessionMiddleware,
)
from sessionary.stores.cookie import CookieStore

from .apps import asgi_app, wsgi_app
from .conftest import SECRET, FakeClock

OLD_SECRET = "o" * 40


def config(clock: FakeClock, mode: str = "encrypted", **options: Any) -> SessionConfig:
    store = CookieStore(mode, clock=clock)  # type: ignore[arg-type]
    options.setdefault("secret_key", SECRET)
    return SessionConfig(store=store, **options)


Get = Callable[..., Any]


@pytest.fixture(params=["asgi", "wsgi"])
def get(request: pytest.FixtureRequest) -> Get:
    """``get(config, path, cookie=None)`` through one of the two middlewares."""

    async def call(cfg: SessionConfig, path: str, cookie: str | None = None) -> httpx.Response:
        headers = {"cookie": f"sessionid={cookie}"} if cookie is not None else {}
        if request.param == "asgi":
            transport: Any = httpx.ASGITransport(SessionMiddleware(asgi_app, cfg))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.get(path, headers=headers)
        wsgi = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, cfg))
        with httpx.Client(transport=wsgi, base_url="http://t") as c:
            return c.get(path, headers=headers)

    return call


def cookie_of(response: httpx.Response) -> str:
    header = response.headers["set-cookie"]
    assert header.startswith("sessionid=")
    return header.split(";", 1)[0].split("=", 1)[1]


async def test_round_trip_through_the_cookie(get: Get, clock: FakeClock) -> None:
    cfg = config(clock)
    value = cookie_of(await get(cfg, "/set?colour=ultramarine&n=42"))
    response = await get(cfg, "/get?colour=&n=", value)
    assert response.json() == {"colour": "ultramarine", "n": "42"}


async def test_no_stored_value_is_readable_in_the_cookie(get: Get, clock: FakeClock) -> None:
    cfg = config(clock)
    value = cookie_of(await get(cfg, "/set?secret=ultramarine"))
    raw = base64.urlsafe_b64decode(value.split(".", 1)[1] + "==")
    assert b"ultramarine" not in raw
    assert "ultramarine" not in value


async def test_signed_mode_is_readable_but_not_changeable(get: Get, clock: FakeClock) -> None:
    cfg = config(clock, "signed")
    value = cookie_of(await get(cfg, "/set?who=alice"))
    version, payload, mac = value.split(".")
    assert b"alice" in base64.urlsafe_b64decode(payload + "==")[1:]
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "==").replace(b"alice", b"admin")
    ).rstrip(b"=")
    response = await get(cfg, "/get?who=", f"{version}.{forged.decode()}.{mac}")
    assert response.status_code == 200
    assert response.json() == {"who": None}


@pytest.mark.parametrize(
    "damage",
    [
        lambda v: v[:-5],  # truncated
        lambda v: v[:10] + ("A" if v[10] != "A" else "B") + v[11:],  # one byte flipped
        lambda v: v + "AAAA",  # extended
        lambda v: "9." + v.split(".", 1)[1],  # unknown version
        lambda v: "garbage",
        lambda v: "",
    ],
)
async def test_tampered_cookie_is_a_fresh_session(
    get: Get, clock: FakeClock, damage: Callable[[str], str]
) -> None:
    cfg = config(clock)
    value = cookie_of(await get(cfg, "/set?a=1"))
    response = await get(cfg, "/get?a=", damage(value))
    assert response.status_code == 200
    assert response.json() == {"a": None}
    assert "Max-Age=0" in response.headers["set-cookie"]  # the bad cookie is deleted


async def test_expiry_is_enforced_from_inside_the_payload(get: Get, clock: FakeClock) -> None:
    cfg = config(clock, cookie_age=60)
    value = cookie_of(await get(cfg, "/set?a=1"))
    clock.advance(61)  # the browser may keep it; the payload says it is dead
    assert (await get(cfg, "/get?a=", value)).json() == {"a": None}


async def test_fallback_key_is_accepted_and_reissued_under_the_current_key(
    get: Get, clock: FakeClock
) -> None:
    old = config(clock, secret_key=OLD_SECRET)
    value = cookie_of(await get(old, "/set?a=1"))
    rotated = config(clock, secret_key_fallbacks=[OLD_SECRET])
    response = await get(rotated, "/get?a=", value)
    assert response.json() == {"a": "1"}
    fresh = cookie_of(response)  # re-issued on this very response
    assert fresh != value
    current_only = config(clock)
    assert (await get(current_only, "/get?a=", fresh)).json() == {"a": "1"}
    assert (await get(current_only, "/get?a=", value)).json() == {"a": None}


async def test_flush_and_cycle(get: Get, clock: FakeClock) -> None:
    cfg = config(clock)
    value = cookie_of(await get(cfg, "/set?a=1"))
    key = (await get(cfg, "/key", value)).json()
    cycled = cookie_of(await get(cfg, "/cycle", value))
    assert (await get(cfg, "/key", cycled)).json() != key
    assert (await get(cfg, "/get?a=", cycled)).json() == {"a": "1"}
    flushed = await get(cfg, "/flush", cycled)
    assert "Max-Age=0" in flushed.headers["set-cookie"]


async def test_large_payloads_are_compressed(clock: FakeClock) -> None:
    cfg = config(clock)
    s = Session(cfg)
    s["text"] = "the same words again " * 400  # 8 KB, compressible
    await s.save()
    assert s.carried is not None
    assert len(s.carried) < 1000


async def test_a_session_beyond_its_cookies_is_refused_at_assignment(clock: FakeClock) -> None:
    cfg = config(clock)
    s = Session(cfg)
    with pytest.raises(SessionTooLarge) as info:
        s["noise"] = base64.b64encode(os.urandom(16000)).decode()  # incompressible
    assert info.value.size > info.value.limit
    assert "noise" not in s


def test_cookie_store_needs_a_secret() -> None:
    from sessionary import ConfigurationError

    with pytest.raises(ConfigurationError, match="secret_key"):
        SessionConfig(store="cookie://")


def _nested_cookie(mode: str, data: dict[str, str], now: float, *, compress: bool) -> str:
    """A cookie in the format before the flat one: the record as one JSON array,
    its data values (JSON text) escaped again inside it; tag ``j``, or ``z`` zlib."""
    import json
    import zlib

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from sessionary.signing import Signer, derive_key

    record = ["sid-from-before", data, {}, now - 60, now - 60, now + 600, None, 7]
    body = json.dumps(record, separators=(",", ":")).encode()
    body = b"z" + zlib.compress(body) if compress else b"j" + body
    purpose = f"cookie-store:{mode}:sessionid"

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    if mode == "signed":
        return Signer((SECRET,), salt=purpose, sep=".", legacy_keys=()).sign(f"s2.{b64(body)}")
    nonce = os.urandom(12)
    sealed = AESGCM(derive_key(SECRET, purpose)).encrypt(
        nonce, body, f"sessionary {purpose}".encode()
    )
    return f"2.{b64(nonce + sealed)}"


def _body(mode: str, value: str) -> bytes:
    """The sealed body of a cookie this test suite's secret sealed."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from sessionary.signing import derive_key

    purpose = f"cookie-store:{mode}:sessionid"
    if mode == "signed":
        payload = value.split(".")[1]
        return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    blob = base64.urlsafe_b64decode(value[2:] + "=" * (-len(value[2:]) % 4))
    aad = f"sessionary {purpose}".encode()
    return AESGCM(derive_key(SECRET, purpose)).decrypt(blob[:12], blob[12:], aad)


@pytest.mark.parametrize("mode", ["encrypted", "signed"])
@pytest.mark.parametrize("compress", [False, True])
async def test_a_cookie_in_the_nested_format_opens_and_is_reissued_flat(
    get: Get, clock: FakeClock, mode: str, compress: bool
) -> None:
    cfg = config(clock, mode)
    old = _nested_cookie(mode, {"a": '"1"', "n": '"42"'}, clock(), compress=compress)
    response = await get(cfg, "/get?a=&n=", old)
    assert response.json() == {"a": "1", "n": "42"}
    fresh = cookie_of(response)  # migrated on this very response
    assert _body(mode, fresh).startswith(b"f")
    assert (await get(cfg, "/get?a=&n=", fresh)).json() == {"a": "1", "n": "42"}


@pytest.mark.parametrize("mode", ["encrypted", "signed"])
def test_the_flat_body_holds_each_value_once_unescaped(clock: FakeClock, mode: str) -> None:
    store = config(clock, mode).store
    s = Session(SessionConfig(store=store, secret_key=SECRET))
    s["quote"] = 'say "hi"'
    s["odd\ud800name"] = "lone \udc00 surrogate"
    s.save_sync()
    assert s.carried is not None
    body = _body(mode, s.carried)
    values = body[1:].partition(b"\n")[2]
    assert body[:1] == b"f"
    assert b'"say \\"hi\\""' in values  # the value's own JSON text, not escaped again
    assert b"\\\\" not in body
    opened = store.load_sync(s.carried)
    assert opened is not None
    assert opened.data == {"quote": '"say \\"hi\\""', "odd\ud800name": '"lone \\udc00 surrogate"'}


def _sealed_body(tail: bytes) -> str:
    """A cookie value sealing ``b"f" + tail`` as the encrypted store does, under SECRET."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from sessionary.signing import derive_key

    purpose = "cookie-store:encrypted:sessionid"
    nonce = os.urandom(12)
    sealed = AESGCM(derive_key(SECRET, purpose)).encrypt(
        nonce, b"f" + tail, f"sessionary {purpose}".encode()
    )
    return "2." + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "tail",
    [
        # each value's length in the head: lengths that do not add up
        b'["s",{},1,1,9e9,null,1,["a"],[3]]\n"x"+',
        b'["s",{},1,1,9e9,null,1,["a"],[9]]\n"x"',
        # one value a line: lines that do not match the names
        b'["s",{},1,1,9e9,null,1,["a","b"]]\n"x"',
        b'["s",{},1,1,9e9,null,1,["a"]]\n"x"\n"y"',
        b'["s",{},1,1,9e9,null,1,[]]\n"x"',
        b'["s",{},1,1,9e9,null,1,["a","a"]]\n"x"\n"y"',
        b'["s",{},1,1,9e9,null,1,[7]]\n"x"',
    ],
)
def test_a_flat_body_whose_values_do_not_match_its_names_does_not_open(
    clock: FakeClock, tail: bytes
) -> None:
    store = config(clock).store
    assert isinstance(store, CookieStore)
    assert store.decode(_sealed_body(tail)) is None


def test_a_flat_body_with_lengths_in_its_head_still_opens(clock: FakeClock) -> None:
    # What the previous version wrote for every cookie, and this one for a
    # value that holds a raw newline.
    store = config(clock).store
    assert isinstance(store, CookieStore)
    opened = store.decode(_sealed_body(b'["s",{},1,1,9e9,null,1,["a","b"],[3,1]]\n"x"7'))
    assert opened is not None
    assert opened[1].data == {"a": '"x"', "b": "7"}


def test_values_are_laid_one_a_line_unless_one_holds_a_newline(clock: FakeClock) -> None:
    from sessionary.stores.base import SessionRecord

    store = config(clock).store
    assert isinstance(store, CookieStore)
    for data, head_fields in [
        ({"a": '"x"', "b": "[1,2]", "c": '"line\\nbreak"'}, 8),
        ({"a": '"x"', "b": "1\n2", "c": "\n"}, 9),  # not JSON's text: lengths kept
        ({}, 8),
        ({"only": "0"}, 8),
    ]:
        record = SessionRecord("", data, clock(), clock(), clock() + 60, None, 1, {})
        value = store.encode("k" * 32, record)
        body = _body("encrypted", value)
        head = json.loads(body[1:].partition(b"\n")[0])
        assert len(head) == head_fields
        opened = store.decode(value)
        assert opened is not None
        assert opened[1].data == data


@pytest.mark.parametrize("user_id", ["u-42", "\ud800 lone surrogate", None])
def test_the_sealed_head_opens_with_or_without_the_fast_codec(
    monkeypatch: pytest.MonkeyPatch, user_id: str | None
) -> None:
    # The head line (key, times, version, names) is written by msgspec when the
    # speedups extra is installed and by json otherwise (or for a lone
    # surrogate msgspec refuses): a cookie sealed one way opens the other way.
    pytest.importorskip("msgspec")
    from sessionary import _serialization
    from sessionary.stores.base import SessionRecord

    store = CookieStore(secret_key=SECRET)
    record = SessionRecord(
        key_hash="",
        data={"cart": "[1,2]", "note": '"caf\\u00e9\\n"'},
        created=1_700_000_000.123456,
        last_seen=1_700_000_005.5,
        expires=4_000_000_000.25,
        user_id=user_id,
        version=7,
        meta={"ua": "Mözilla/5.0\n", "ip": "::1", "exp": 0},
    )
    key = "k" * 32
    fast = store.encode(key, record)
    monkeypatch.setattr(_serialization, "_fast_encode", None)
    monkeypatch.setattr(_serialization, "_fast_decode", None)
    plain = store.encode(key, record)
    opened_by_json = [store.decode(fast), store.decode(plain)]
    monkeypatch.undo()
    opened_by_msgspec = [store.decode(fast), store.decode(plain)]
    for opened in opened_by_json + opened_by_msgspec:
        assert opened is not None
        sid, got = opened
        assert sid == key
        assert (got.data, got.meta, got.user_id, got.version) == (
            record.data,
            record.meta,
            user_id,
            7,
        )
        assert (got.created, got.last_seen, got.expires) == (
            record.created,
            record.last_seen,
            record.expires,
        )


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _unb64_outcome(text: str) -> bytes | None:
    from sessionary.stores import cookie

    try:
        return cookie._unb64(text)
    except (ValueError, UnicodeError):  # binascii.Error is a ValueError
        return None


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=700),
    text=st.text(alphabet=st.sampled_from([*_B64URL, "+", "/", "=", ".", " ", "é"]), max_size=24),
)
def test_base64url_is_the_same_with_or_without_pybase64(raw: bytes, text: str) -> None:
    # The speedups extra's pybase64 and the binascii fallback write the same
    # text and accept (or refuse) the same text: a cookie sealed under one
    # opens under the other, and neither opens what the other refuses.
    pytest.importorskip("pybase64")
    from sessionary.stores import cookie

    fast = (cookie._b64(raw), _unb64_outcome(text), _unb64_outcome(cookie._b64(raw)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cookie, "_fast_b64encode", None)
        patch.setattr(cookie, "_fast_b64decode", None)
        plain = (cookie._b64(raw), _unb64_outcome(text), _unb64_outcome(cookie._b64(raw)))
    assert fast == plain
    assert fast[0] == base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert fast[2] == raw


def test_nonces_are_unique_across_threads() -> None:
    # Drawn a block at a time from the OS and handed out one per seal: no
    # two callers, whatever the threads, ever get the same one.
    from concurrent.futures import ThreadPoolExecutor

    from sessionary.stores import cookie

    def draw(_: int) -> list[bytes]:
        return [cookie._nonce() for _ in range(3000)]

    with ThreadPoolExecutor(8) as pool:
        drawn = [nonce for batch in pool.map(draw, range(8)) for nonce in batch]
    assert len(drawn) == 24000 == len(set(drawn))
    assert {len(nonce) for nonce in drawn} == {12}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_reuses_its_parents_nonces() -> None:
    from sessionary.stores import cookie

    cookie._nonce()  # the parent now holds a block it has not used
    pending = set(cookie._nonces)
    assert pending
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child process
        try:
            os.write(write, b"".join(cookie._nonce() for _ in range(len(pending) + 1)))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        got = pipe.read()
    os.waitpid(pid, 0)
    child = {got[at : at + 12] for at in range(0, len(got), 12)}
    assert len(child) == len(pending) + 1
    assert not child & pending
    assert set(cookie._nonces) == pending  # the parent's own are still its own
