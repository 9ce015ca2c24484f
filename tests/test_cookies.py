"""``sessionary.cookies``: the RFC 6265 parser, Set-Cookie builders with the
prefix rules, Django-compatible signed cookies, and the response helpers."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from sessionary.cookies import (
    delete_cookie,
    format_delete_cookie,
    format_set_cookie,
    get_signed_cookie,
    parse_cookie,
    request_cookies,
    set_cookie,
    set_signed_cookie,
)
from sessionary.exceptions import BadSignature, SignatureExpired
from sessionary.signing import TimestampSigner

SECRET = "k" * 40
OLD = "o" * 40

# -- parsing -------------------------------------------------------------------


def test_first_of_duplicate_names_wins() -> None:
    assert parse_cookie("a=1; a=2; b=3") == {"a": "1", "b": "3"}


def test_quoted_values_are_unquoted() -> None:
    assert parse_cookie('a="hello"; b=""; c="') == {"a": "hello", "b": "", "c": '"'}


def test_empty_and_attribute_only_pairs_are_skipped() -> None:
    assert parse_cookie(";;  ; flag; =v; a=1;") == {"a": "1"}


def test_non_ascii_bytes_never_raise() -> None:
    assert parse_cookie("name=café".encode()) == {"name": "café"}
    assert parse_cookie(b"a=\xff\xfe; b=2")["b"] == "2"


def test_several_headers_are_read_in_order() -> None:
    assert parse_cookie([b"a=1; b=2", "b=3; c=4"]) == {"a": "1", "b": "2", "c": "4"}


def test_an_8kb_header_is_parsed() -> None:
    header = "; ".join(f"c{i}={'v' * 60}" for i in range(130))
    assert len(header) > 8192
    assert len(parse_cookie(header)) == 130


def test_odd_inputs_give_no_cookies() -> None:
    assert parse_cookie(None) == {}
    assert parse_cookie("") == {}
    assert parse_cookie([None, 3]) == {}  # type: ignore[list-item]


# -- Set-Cookie ------------------------------------------------------------------


def test_every_attribute() -> None:
    header = format_set_cookie(
        "__Host-id",
        "v",
        max_age=60,
        expires=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
        partitioned=True,
        priority="high",
    )
    assert header == (
        "__Host-id=v; expires=Tue, 01 Jan 2030 00:00:00 GMT; Max-Age=60; Path=/; Secure; "
        "HttpOnly; SameSite=Strict; Partitioned; Priority=High"
    )
    assert "Domain=example.com" in format_set_cookie("a", "b", domain="example.com")


def test_delete_cookie_matches_attributes() -> None:
    header = format_delete_cookie("a", path="/app", domain="x.org", partitioned=True, secure=True)
    assert "Max-Age=0" in header
    assert "Path=/app" in header
    assert "Domain=x.org" in header
    assert "Partitioned" in header


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "__Secure-a"},
        {"name": "__Host-a"},
        {"name": "__Host-a", "secure": True, "domain": "x.org"},
        {"name": "__Host-a", "secure": True, "path": "/sub"},
        {"name": "a", "samesite": "None"},
        {"name": "a", "samesite": "sometimes", "secure": True},
        {"name": "a", "partitioned": True},
        {"name": "a", "priority": "urgent"},
        {"name": "bad name"},
        {"name": "a", "value": "x;y"},
        {"name": "a", "value": "new\nline"},
        {"name": "a", "path": "/; Domain=evil"},
    ],
)
def test_invalid_cookies_raise_value_error(kwargs: dict[str, Any]) -> None:
    name = kwargs.pop("name")
    value = kwargs.pop("value", "v")
    with pytest.raises(ValueError, match=name.split()[0]):
        format_set_cookie(name, value, **kwargs)


def test_prefixed_cookies_that_follow_the_rules_are_fine() -> None:
    assert format_set_cookie("__Secure-a", "v", secure=True, path="/x", domain="x.org")
    assert format_set_cookie("__Host-a", "v", secure=True)


# -- responses ---------------------------------------------------------------------


def test_helpers_write_to_raw_asgi_and_wsgi_header_lists() -> None:
    asgi: list[Any] = [(b"content-type", b"text/plain")]
    set_cookie(asgi, "a", "1", max_age=5)
    assert asgi[-1] == (b"set-cookie", b"a=1; Max-Age=5; Path=/")
    wsgi: list[Any] = []
    delete_cookie(wsgi, "a")
    assert wsgi[0][0] == "Set-Cookie"
    assert "Max-Age=0" in wsgi[0][1]
    empty_asgi: list[Any] = []
    set_cookie(empty_asgi, "a", "1", as_bytes=True)
    assert empty_asgi[0][0] == b"set-cookie"


def test_helpers_write_to_starlette_responses() -> None:
    from starlette.requests import Request
    from starlette.responses import Response

    response = Response("ok")
    set_signed_cookie(response, "pref", "dark", secret_key=SECRET, salt="ui", httponly=True)
    set_cookie(response, "plain", "1")
    headers = response.headers.getlist("set-cookie")
    assert len(headers) == 2
    cookie = headers[0].split(";")[0]
    scope = {"type": "http", "headers": [(b"cookie", cookie.encode())]}
    assert get_signed_cookie(Request(scope), "pref", secret_key=SECRET, salt="ui") == "dark"
    assert get_signed_cookie(scope, "pref", secret_key=SECRET, salt="ui") == "dark"


def test_helpers_write_to_flask_responses() -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)
    response = flask.Response("ok")
    set_signed_cookie(response, "pref", "dark", secret_key=SECRET)
    cookie = response.headers.getlist("Set-Cookie")[0].split(";")[0]
    with app.test_request_context(headers={"Cookie": cookie}):
        assert get_signed_cookie(flask.request, "pref", secret_key=SECRET) == "dark"
    environ = {"wsgi.version": (1, 0), "HTTP_COOKIE": cookie}
    assert get_signed_cookie(environ, "pref", secret_key=SECRET) == "dark"


# -- signed cookies ----------------------------------------------------------------


def _signed(value: str, key: str = SECRET, salt: str = "", age: float = 0) -> str:
    headers: list[Any] = []
    signer = TimestampSigner([key], "c" + salt, clock=lambda: time.time() - age)
    set_cookie(headers, "c", signer.sign(value))
    return str(headers[0][1]).split(";")[0]


def test_signed_cookie_round_trips_and_rejects_tampering() -> None:
    cookie = _signed("hello")
    assert get_signed_cookie(cookie, "c", secret_key=SECRET) == "hello"
    tampered = cookie.replace("hello", "hellp")
    with pytest.raises(BadSignature):
        get_signed_cookie(tampered, "c", secret_key=SECRET)
    assert get_signed_cookie(tampered, "c", None, secret_key=SECRET) is None
    with pytest.raises(KeyError):
        get_signed_cookie("", "c", secret_key=SECRET)


def test_signed_cookie_salt_separates_purposes() -> None:
    with pytest.raises(BadSignature):
        get_signed_cookie(_signed("v", salt="a"), "c", secret_key=SECRET, salt="b")


def test_signed_cookie_max_age() -> None:
    cookie = _signed("v", age=100)
    assert get_signed_cookie(cookie, "c", secret_key=SECRET, max_age=200) == "v"
    with pytest.raises(SignatureExpired):
        get_signed_cookie(cookie, "c", secret_key=SECRET, max_age=dt.timedelta(seconds=50))


def test_signed_cookie_accepts_fallback_keys() -> None:
    cookie = _signed("v", key=OLD)
    with pytest.raises(BadSignature):
        get_signed_cookie(cookie, "c", secret_key=SECRET)
    assert get_signed_cookie(cookie, "c", secret_key=SECRET, fallback_keys=[OLD]) == "v"


def test_signed_cookie_is_readable_by_django() -> None:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(SECRET_KEY=SECRET)
    from django.core import signing

    cookie = _signed("v", salt="s")
    value = cookie.split("=", 1)[1]
    signer = signing.TimestampSigner(key=SECRET, salt="c" + "s")
    assert signer.unsign(value) == "v"
    ours = f"c={signer.sign('w')}"
    assert get_signed_cookie(ours, "c", secret_key=SECRET, salt="s") == "w"


def test_request_cookies_reads_a_mapping() -> None:
    assert request_cookies({"a": "1"}) == {"a": "1"}
    with pytest.raises(TypeError):
        request_cookies(3)
