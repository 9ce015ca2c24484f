"""sessionary.cookies: parsing that never raises, every attribute, prefixes,
signed cookies, and helpers for each framework's responses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionary import BadSignature, SignatureExpired
from sessionary.cookies import (
    check_cookie,
    delete_cookie,
    format_set_cookie,
    get_signed_cookie,
    parse_cookie,
    set_cookie,
    set_signed_cookie,
)
from sessionary.signing import TimestampSigner

SECRET = "k" * 40


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("a=1; a=2", {"a": "1"}),  # first wins, as browsers order them
        ('a="quoted value"', {"a": "quoted value"}),
        ("a=; b", {"a": ""}),  # empty value; attribute-only pair skipped
        (";;; =x; a=1;", {"a": "1"}),
        ("  a  =  1  ", {"a": "1"}),
        ("", {}),
    ],
)
def test_parse_cookie(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie(header) == expected


def test_parse_several_headers_and_bytes() -> None:
    assert parse_cookie([b"a=1", "b=2; a=3", b"c=\xff\xfe"]) == {"a": "1", "b": "2", "c": "ÿþ"}
    big = "; ".join(f"c{i}={'v' * 60}" for i in range(130))  # over 8 KB
    assert len(parse_cookie(big)) == 130


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.lists(st.one_of(st.text(), st.binary()))))
def test_parse_never_raises(header: str | bytes | list[str | bytes]) -> None:
    result = parse_cookie(header)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items())


def test_every_attribute_is_written() -> None:
    header = format_set_cookie(
        "__Host-sid",
        "v",
        max_age=60,
        expires=0,
        path="/",
        secure=True,
        httponly=True,
        samesite="None",
        partitioned=True,
        priority="high",
    )
    assert header == (
        "__Host-sid=v; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60; Path=/; Secure; "
        "HttpOnly; SameSite=None; Partitioned; Priority=High"
    )


@pytest.mark.parametrize(
    ("name", "attributes"),
    [
        ("__Host-a", {"secure": False}),
        ("__Host-a", {"secure": True, "domain": "example.com"}),
        ("__Host-a", {"secure": True, "path": "/app"}),
        ("__Secure-a", {"secure": False}),
        ("a", {"samesite": "None"}),
        ("a", {"samesite": "Sometimes"}),
        ("a", {"partitioned": True}),
        ("a", {"priority": "urgent"}),
        ("bad name", {}),
    ],
)
def test_prefix_and_attribute_rules(name: str, attributes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the rule's own
        check_cookie(name, **attributes)  # type: ignore[arg-type]


def test_helpers_write_to_raw_asgi_and_wsgi_headers() -> None:
    asgi: list[tuple[bytes, bytes]] = [(b"content-type", b"text/plain")]
    set_cookie(asgi, "a", "1", httponly=True)
    wsgi: list[tuple[str, str]] = []
    delete_cookie(wsgi, "a")
    assert asgi[-1] == (b"set-cookie", b"a=1; Path=/; HttpOnly")
    assert wsgi[0][0] == "Set-Cookie"
    assert "Max-Age=0" in wsgi[0][1]


def test_helpers_write_to_starlette_and_flask_responses() -> None:
    from flask import Flask
    from starlette.responses import Response

    starlette = Response("ok")
    set_cookie(starlette, "a", "1")
    set_cookie(starlette, "b", "2")
    assert starlette.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    with Flask(__name__).app_context():
        from flask import make_response

        flask = make_response("ok")
        set_signed_cookie(flask, "who", "alice", secret=SECRET)
        signed = flask.headers.getlist("Set-Cookie")[0].split(";")[0].split("=", 1)[1]
    assert get_signed_cookie({"who": signed}, "who", secret=SECRET) == "alice"


def test_signed_cookies_as_django() -> None:
    headers: list[tuple[str, str]] = []
    set_signed_cookie(headers, "who", "alice", secret=SECRET, salt="greeting")
    cookie_header = headers[0][1].split(";")[0]
    assert get_signed_cookie(cookie_header, "who", secret=SECRET, salt="greeting") == "alice"
    with pytest.raises(BadSignature):
        get_signed_cookie(cookie_header, "who", secret=SECRET, salt="other")
    tampered = cookie_header.replace("alice", "admin")
    with pytest.raises(BadSignature):
        get_signed_cookie(tampered, "who", secret=SECRET, salt="greeting")
    assert get_signed_cookie(tampered, "who", secret=SECRET, salt="greeting", default=None) is None
    with pytest.raises(KeyError):
        get_signed_cookie({}, "who", secret=SECRET)


def test_signed_cookie_max_age_and_rotation() -> None:
    old, new = "o" * 40, "n" * 40
    signer = TimestampSigner([old], salt="cookie:who")
    signed = signer.sign("alice", now=1000)
    rotated = TimestampSigner([new, old], salt="cookie:who")
    assert rotated.unsign(signed, max_age=60, now=1030) == "alice"
    with pytest.raises(SignatureExpired) as info:
        rotated.unsign(signed, max_age=60, now=1100)
    assert info.value.payload == signed
    with pytest.raises(BadSignature):
        TimestampSigner([new], salt="cookie:who").unsign(signed)
