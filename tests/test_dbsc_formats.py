"""DBSC's formats, strictly: structured fields (RFC 9651), proofs (JWS), thumbprints (RFC 7638)."""

from __future__ import annotations

import base64
import json

import pytest

from sessionary import SessionConfig
from sessionary._dbsc._sfv import FieldError, Item, Token, parse_item, parse_list, serialize_string
from sessionary._dbsc.proof import (
    BadProof,
    ForgedProof,
    load_key,
    parse_proof,
    thumbprint,
    verify,
)
from sessionary.dbsc import DBSCConfig
from sessionary.exceptions import ConfigurationError

from .dbsc_agent import DeviceKey, b64url


def test_a_registration_header_parses_as_the_draft_writes_it() -> None:
    value = '(ES256 RS256);path="reg";challenge="cv";authorization="ac", (RS256);path="r2"'
    first, second = parse_list(value)
    assert first.value == (Item(Token("ES256")), Item(Token("RS256")))
    assert first.params == {"path": "reg", "challenge": "cv", "authorization": "ac"}
    assert second.params == {"path": "r2"}


def test_skipped_and_challenge_lists_with_parameters() -> None:
    items = parse_list(
        'unreachable;session_identifier="123", quota_exceeded;session_identifier="456"'
    )
    assert [(i.value, i.params["session_identifier"]) for i in items] == [
        (Token("unreachable"), "123"),
        (Token("quota_exceeded"), "456"),
    ]
    (challenge,) = parse_list('"new challenge";id="my session"')
    assert challenge.value == "new challenge"
    assert challenge.params == {"id": "my session"}


def test_bare_items_of_every_kind() -> None:
    assert parse_item("?1").value is True
    assert parse_item("-42").value == -42
    assert parse_item("4.5").value == 4.5
    assert parse_item(":aGk=:").value == b"hi"
    assert parse_item(r'"a\"b\\c"').value == 'a"b\\c'
    assert parse_item("tok;flag").params == {"flag": True}


@pytest.mark.parametrize(
    "bad",
    [
        '"unterminated',
        '"bad \\n escape"',
        '"tab\there"',
        "a,",
        "a b",
        "(a",
        "1234567890123456",
        ":!!:",
        "?2",
        "Ünï",
        ";x",
    ],
)
def test_malformed_fields_fail_whole(bad: str) -> None:
    with pytest.raises(FieldError):
        parse_list(bad)


def test_strings_serialise_with_escapes_and_refuse_non_ascii() -> None:
    assert serialize_string('a"b\\') == r'"a\"b\\"'
    assert parse_item(serialize_string('x"y')).value == 'x"y'
    with pytest.raises(ValueError, match="printable ASCII"):
        serialize_string("é")


def test_rfc_7638_thumbprint_example() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_proof_verifies_with_its_key_only(alg: str) -> None:
    key = DeviceKey(alg)
    proof = parse_proof(key.proof("c1", with_jwk=True, authorization="az"))
    assert proof.jti == "c1"
    assert proof.authorization == "az"
    assert proof.jwk is not None
    verify(proof, proof.jwk)
    with pytest.raises(ForgedProof):
        verify(proof, DeviceKey(alg).jwk())


def test_the_older_payload_key_and_an_aud_are_tolerated() -> None:
    key = DeviceKey("ES256")
    head = b64url(json.dumps({"alg": "ES256", "typ": "dbsc+jwt"}).encode())
    body = b64url(json.dumps({"jti": "c", "aud": "https://x/reg", "key": key.jwk()}).encode())
    token = f"{head}.{body}." + b64url(key.sign(f"{head}.{body}".encode()))
    proof = parse_proof(token)
    assert proof.jwk == key.jwk()
    verify(proof, proof.jwk)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ({"typ": "JWT"}, BadProof),
        ({"alg": "none"}, ForgedProof),
        ({"alg": "ES384"}, ForgedProof),
        ({"alg": "RS256"}, ForgedProof),
    ],
)
def test_other_types_and_algorithms_are_refused(header: dict[str, str], error: type) -> None:
    key = DeviceKey("ES256")
    token = key.proof("c", with_jwk=True, header=header)

    def check() -> None:
        verify(parse_proof(token), key.jwk())

    with pytest.raises(error):
        check()


def test_a_point_off_the_curve_and_a_small_rsa_key_are_refused() -> None:
    jwk = DeviceKey("ES256").jwk()
    y = int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "="), "big")
    off = {**jwk, "y": b64url(((y + 1) % 2**256).to_bytes(32, "big"))}
    with pytest.raises(BadProof):
        load_key(off)
    with pytest.raises(BadProof):
        load_key({"kty": "RSA", "n": b64url((2**1023 + 1).to_bytes(128, "big")), "e": "AQAB"})
    with pytest.raises(BadProof):
        load_key({"kty": "OKP", "crv": "Ed25519", "x": "AA"})


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.", "W10.e30.", "eyJ0eXAiOiJkYnNjK2p3dCJ9.e30.AA"],
)
def test_garbage_is_no_proof(token: str) -> None:
    with pytest.raises(BadProof):
        parse_proof(token)


def test_dbsc_configuration_is_checked_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="ES256 and RS256"):
        DBSCConfig(algorithms=("none",))
    with pytest.raises(ConfigurationError, match=r"dbsc\.cookie_age"):
        DBSCConfig(cookie_age=0)
    with pytest.raises(ConfigurationError, match=r"dbsc\.origin"):
        DBSCConfig(origin="example.com")
    with pytest.raises(ConfigurationError, match="server-side store"):
        SessionConfig(store="cookie://", secret_key="k" * 40, dbsc=DBSCConfig())
    with pytest.raises(ConfigurationError, match="transport"):
        SessionConfig(store="memory://", transport="header", dbsc=DBSCConfig())
