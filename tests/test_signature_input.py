"""Signatures a client sends are compared as bytes: any text, ASCII or not,
is a bad signature (never a ``TypeError`` from ``hmac.compare_digest``, which
refuses non-ASCII ``str``), so a forged cookie never becomes a 500."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from sessionary.cookies import get_signed_cookie
from sessionary.exceptions import BadSignature
from sessionary.messages import _signing
from sessionary.signing import Signer, TimestampSigner

from .conftest import SECRET
from .test_messages import starlette_app

_client_text = st.lists(
    st.sampled_from([":", ".", "é", "A", "\x00", "ÿ"]) | st.text(max_size=30)
).map("".join)


@given(_client_text)
def test_signer_refuses_any_client_text_with_bad_signature(value: str) -> None:
    for signer in (Signer([SECRET]), TimestampSigner([SECRET, "o" * 40])):
        with pytest.raises(BadSignature):
            signer.unsign(value)


@given(_client_text)
def test_messages_signature_refuses_any_client_text(value: str) -> None:
    with pytest.raises(BadSignature):
        _signing.unsign(value, [SECRET, "o" * 40])


def test_signed_cookie_with_non_ascii_signature_is_the_default() -> None:
    cookies = {"c": "value:1:é"}
    assert get_signed_cookie(cookies, "c", secret=SECRET, default=None) is None


def test_non_ascii_messages_cookie_is_ignored_over_http() -> None:
    with TestClient(starlette_app(storage="cookie")) as client:
        response = client.get(
            "/show", headers={b"cookie": "messages=abc.\xc3\xa9".encode("latin-1")}
        )
        assert response.status_code == 200
        assert response.json() == []
