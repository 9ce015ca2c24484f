"""DBSC proofs: the ``dbsc+jwt`` a browser signs with its session key, verified.

A proof is a compact JWS. Its header names ``typ: "dbsc+jwt"``, the
``alg`` and (at registration) the public key as a ``jwk``; its payload
carries the challenge as ``jti`` and, when the offer had one, the
``authorization`` string. Only ES256 (ECDSA P-256 with SHA-256, the
signature as raw ``R || S``) and RS256 (RSASSA-PKCS1-v1_5 with SHA-256, a
key of at least 2048 bits) are accepted: ``alg: none`` and every other
algorithm are refused. Points and moduli are checked by ``cryptography``
when the key is loaded (a point off the curve is refused there).

Two older shapes some browser builds still send are tolerated: the key as
the payload's ``key`` claim, and an extra ``aud`` claim (ignored).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "ALGORITHMS",
    "BadProof",
    "ForgedProof",
    "Proof",
    "b64url",
    "load_key",
    "parse_proof",
    "public_jwk",
    "thumbprint",
    "verify",
]

ALGORITHMS = ("ES256", "RS256")
_MAX_PROOF = 16_384
_MIN_RSA_BITS = 2048
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class BadProof(ValueError):
    """The header is no proof at all (not a JWT, not ``dbsc+jwt``, no usable key)."""


class ForgedProof(BadProof):
    """A well-formed proof that the claimed key did not sign (or an algorithm we refuse)."""


@dataclass(frozen=True, slots=True)
class Proof:
    """A parsed, not yet verified, proof."""

    alg: str
    jwk: dict[str, Any] | None
    jti: str
    authorization: str | None
    signing_input: bytes
    signature: bytes


def b64url(data: bytes) -> str:
    """Base64url without padding (JOSE's encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise BadProof("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadProof("not base64url") from None


def _json_object(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64url(part))
    except (ValueError, UnicodeDecodeError):
        raise BadProof("a JWT part is not JSON") from None
    if not isinstance(value, dict):
        raise BadProof("a JWT part is not a JSON object")
    return value


def parse_proof(token: str) -> Proof:
    """Split and decode ``token``; :class:`BadProof` unless it looks like a DBSC proof."""
    if len(token) > _MAX_PROOF:
        raise BadProof("proof too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise BadProof("a JWT has three parts")
    header, payload = _json_object(parts[0]), _json_object(parts[1])
    if header.get("typ") != "dbsc+jwt":
        raise BadProof("typ is not dbsc+jwt")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise BadProof("no alg")
    jti = payload.get("jti")
    if not isinstance(jti, str) or not jti:
        raise BadProof("no jti (challenge)")
    jwk = header.get("jwk", payload.get("key"))
    if jwk is not None and not isinstance(jwk, dict):
        raise BadProof("jwk is not an object")
    authorization = payload.get("authorization")
    if authorization is not None and not isinstance(authorization, str):
        raise BadProof("authorization is not a string")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
    return Proof(alg, jwk, jti, authorization, signing_input, _unb64url(parts[2]))


def _int(jwk: dict[str, Any], name: str, size: int | None = None) -> int:
    raw = _unb64url(jwk.get(name))  # type: ignore[arg-type]
    if size is not None and len(raw) != size:
        raise BadProof(f"jwk {name} has the wrong length")
    return int.from_bytes(raw, "big")


def load_key(jwk: dict[str, Any]) -> PublicKey:
    """The public key a JWK names (EC P-256 or RSA); :class:`BadProof` otherwise."""
    kty = jwk.get("kty")
    try:
        if kty == "EC" and jwk.get("crv") == "P-256":
            numbers = ec.EllipticCurvePublicNumbers(
                _int(jwk, "x", 32), _int(jwk, "y", 32), ec.SECP256R1()
            )
            return numbers.public_key()  # refuses a point off the curve
        if kty == "RSA":
            key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
            if key.key_size < _MIN_RSA_BITS:
                raise BadProof(f"RSA key below {_MIN_RSA_BITS} bits")
            return key
    except ValueError as exc:
        if isinstance(exc, BadProof):
            raise
        raise BadProof("the jwk is not a valid public key") from None
    raise BadProof("the jwk is neither EC P-256 nor RSA")


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url."""
    names = ("crv", "kty", "x", "y") if jwk.get("kty") == "EC" else ("e", "kty", "n")
    canonical = json.dumps({n: jwk.get(n) for n in names}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(jwk: dict[str, Any]) -> dict[str, str]:
    """The public members of ``jwk`` (what is kept beside the session)."""
    names = ("kty", "crv", "x", "y") if jwk.get("kty") == "EC" else ("kty", "n", "e")
    return {n: str(jwk[n]) for n in names if n in jwk}


def verify(proof: Proof, jwk: dict[str, Any], allowed: tuple[str, ...] = ALGORITHMS) -> None:
    """Check ``proof``'s signature with ``jwk``; :class:`ForgedProof` when it fails.

    ``allowed`` are the algorithms this deployment accepts (never ``none``).
    """
    if proof.alg not in allowed or proof.alg not in ALGORITHMS:
        raise ForgedProof(f"alg {proof.alg!r} is refused")
    key = load_key(jwk)
    try:
        if proof.alg == "ES256":
            if not isinstance(key, ec.EllipticCurvePublicKey) or len(proof.signature) != 64:
                raise ForgedProof("an ES256 proof needs an EC key and a 64-byte signature")
            r = int.from_bytes(proof.signature[:32], "big")
            s = int.from_bytes(proof.signature[32:], "big")
            der = encode_dss_signature(r, s)
            key.verify(der, proof.signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise ForgedProof("an RS256 proof needs an RSA key")
            key.verify(proof.signature, proof.signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise ForgedProof("the signature does not verify") from None
