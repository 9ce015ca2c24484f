"""The registration and refresh endpoints, as sans-I/O steps.

Request facts go in (:class:`Facts`), a :class:`Reply` (status, headers,
body) comes out, and the session's changes are staged on the request's
session through its named API; the edge commits the session and sends the
reply. Store work is the claims of ``sessionary._claims`` (create-if-absent
records), so the same steps run on the async and the sync store API.

Why claims, not the session record, decide races: a record change is
applied atomically, but two refreshes that loaded the same binding would
both apply theirs (last writer wins). Two claims close that:

- every challenge is consumed once (``dbsc-challenge``): a replayed proof
  finds it taken and gets a 403 with a fresh challenge, never a cookie;
- every change of the binding (a refresh, or a fresh challenge for a 403)
  moves it from generation ``n`` to ``n + 1`` by claiming ``n`` under the
  session key; only the winner writes the binding, so a later write always
  builds on the one before. A loser answers 403 with the winner's next
  challenge (sealed in the claim under the session key), which the browser
  signs on its one retry.

A 4xx other than 403 makes a browser drop its binding, so benign races
never produce one: they produce 403 (try again) or 200 ``continue: false``
(the session is gone).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._claims import claim, read_claim, seal, unseal
from .._ops import Steps
from ..events import EventKind, emit
from ._sfv import parse_string, serialize_string
from .binding import BINDING, OFFER, Binding, Offer, cookie_digest, new_secret
from .offer import offer_challenge
from .proof import BadProof, ForgedProof, parse_proof, public_jwk, thumbprint, verify

if TYPE_CHECKING:
    from .._config import SessionConfig
    from .._session import Session
    from .config import DBSCConfig

__all__ = ["Facts", "Reply", "endpoint_steps", "in_scope", "instructions"]

security_logger = logging.getLogger("sessionary.security")

# A refresh that won its generation but never committed (a crash) blocks the
# next one at most this long.
_GENERATION_TTL = 30
_NO_STORE = ("cache-control", "no-store")
# The draft advises that the endpoints refuse to be embedded or read cross-site.
_HARDENING = (
    _NO_STORE,
    ("x-frame-options", "DENY"),
    ("cross-origin-resource-policy", "same-origin"),
)
_USED = "dbsc-challenge"
_NEXT = "dbsc-next/"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a request told DBSC: its method, path, scheme, host, the DBSC headers
    (lower-cased names) and the bound cookie's value."""

    method: str
    path: str
    secure: bool
    host: str
    headers: Mapping[str, str] = field(default_factory=dict)
    bound_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """An endpoint's answer, before the session's own headers are added."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def reason(self) -> str:
        return _REASONS.get(self.status, "OK")


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def bound_cookie_name(dbsc: DBSCConfig, secure: bool) -> str:
    """The bound cookie's name: ``__Host-`` prefixed over HTTPS."""
    return ("__Host-" if secure else "") + dbsc.cookie_name


def _cookie_attributes(secure: bool) -> str:
    return "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")


def in_scope(dbsc: DBSCConfig, path: str) -> bool:
    """Whether requests to ``path`` must carry the bound cookie."""
    if path in (dbsc.registration_path, dbsc.refresh_path):
        return False
    for prefix in dbsc.exclude_paths:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return False
    return True


def _origin(dbsc: DBSCConfig, facts: Facts) -> str:
    return dbsc.origin or f"{'https' if facts.secure else 'http'}://{facts.host}"


def instructions(dbsc: DBSCConfig, facts: Facts, binding: Binding) -> dict[str, Any]:
    """The session instructions JSON (registration and refresh answers)."""
    return {
        "session_identifier": binding.session_id,
        "refresh_url": dbsc.refresh_path,
        "scope": {
            "origin": _origin(dbsc, facts),
            "include_site": dbsc.include_site,
            "scope_specification": [
                {"type": "exclude", "domain": "*", "path": path} for path in dbsc.exclude_paths
            ],
        },
        "credentials": [
            {
                "type": "cookie",
                "name": bound_cookie_name(dbsc, facts.secure),
                "attributes": _cookie_attributes(facts.secure),
            }
        ],
    }


def _json(status: int, body: dict[str, Any], *extra: tuple[str, str]) -> Reply:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [("content-type", "application/json"), *_HARDENING, *extra]
    return Reply(status, headers, data)


def _refused(reason: str) -> Reply:
    security_logger.info("dbsc registration refused: %s", reason)
    headers = [("content-type", "text/plain; charset=utf-8"), *_HARDENING]
    return Reply(400, headers, reason.encode())


def _ended() -> Reply:
    return _json(200, {"continue": False})


def _challenge_header(challenge: str, session_id: str) -> tuple[str, str]:
    value = f"{serialize_string(challenge)};id={serialize_string(session_id)}"
    return ("secure-session-challenge", value)


def _forbidden(challenge: str, session_id: str) -> Reply:
    headers = [*_HARDENING, _challenge_header(challenge, session_id)]
    return Reply(403, headers, b"")


def _bound(config: SessionConfig, facts: Facts, binding: Binding, cookie: str) -> Reply:
    dbsc = _on(config)
    challenge = binding.challenges[0][0]
    set_cookie = (
        f"{bound_cookie_name(dbsc, facts.secure)}={cookie}; Max-Age={dbsc.cookie_age}; "
        + _cookie_attributes(facts.secure)
    )
    return _json(
        200,
        instructions(dbsc, facts, binding),
        ("set-cookie", set_cookie),
        _challenge_header(challenge, binding.session_id),
    )


def _on(config: SessionConfig) -> DBSCConfig:
    if config.dbsc is None:  # pragma: no cover - the edges call in only with DBSC on
        raise RuntimeError("DBSC is off in this configuration")
    return config.dbsc


def _proof_header(facts: Facts) -> str | None:
    raw = facts.headers.get("secure-session-response") or facts.headers.get("sec-session-response")
    return parse_string(raw) if raw is not None else None


def _event(config: SessionConfig, kind: EventKind, key: str | None) -> None:
    if config.event_hooks:
        emit(config.event_hooks, kind, config.store, key)


def endpoint_steps(config: SessionConfig, session: Session, facts: Facts) -> Steps[Reply] | None:
    """The steps that answer ``facts`` when it is a DBSC endpoint, else ``None``."""
    dbsc = config.dbsc
    if dbsc is None or facts.path not in (dbsc.registration_path, dbsc.refresh_path):
        return None
    if facts.method != "POST":
        return _not_post()
    if facts.path == dbsc.registration_path:
        return register(config, session, facts)
    return refresh(config, session, facts)


def _not_post() -> Steps[Reply]:
    yield from ()  # steps that need no store work
    return Reply(405, [("allow", "POST"), *_HARDENING], b"")


def register(config: SessionConfig, session: Session, facts: Facts) -> Steps[Reply]:
    """Verify the registration proof against the offer, consume the offer once,
    and bind the session to the proof's key."""
    dbsc = _on(config)
    now = config.now()
    offered = Offer.from_meta(session.get_meta(OFFER))
    if offered is None or now > offered.expires:
        return _refused("no live registration offer for this session")
    raw = _proof_header(facts)
    if raw is None:
        return _refused("no Secure-Session-Response proof")
    try:
        proof = parse_proof(raw)
        if proof.jwk is None:
            raise BadProof("no jwk in the registration proof")
        verify(proof, proof.jwk, dbsc.algorithms)
    except BadProof as exc:
        _event(config, "dbsc_forged", session.session_key)
        return _refused(f"bad proof ({exc})")
    challenge = offer_challenge(session, offered)
    if challenge is None or not hmac.compare_digest(challenge.encode(), proof.jti.encode()):
        return _refused("the proof signs another challenge")
    if offered.authorization is not None and (
        proof.authorization is None
        or not hmac.compare_digest(offered.authorization.encode(), proof.authorization.encode())
    ):
        return _refused("the proof's authorization does not match the offer")
    if not (yield from claim(challenge, "dbsc-offer", now=now, ttl=dbsc.offer_ttl)):
        return _refused("the offer was already used")
    cookie = new_secret()
    binding = Binding(
        session_id=new_secret(),
        alg=proof.alg,
        jwk=public_jwk(proof.jwk),
        thumbprint=thumbprint(proof.jwk),
        generation=0,
        challenges=((new_secret(), now),),
        cookies=((cookie_digest(cookie), now + dbsc.cookie_age),),
    )
    session.set_meta(OFFER, None)
    session.set_meta(BINDING, binding.to_meta())
    _event(config, "dbsc_bound", session.session_key)
    return _bound(config, facts, binding, cookie)


def refresh(config: SessionConfig, session: Session, facts: Facts) -> Steps[Reply]:
    """Answer a refresh: 403 with a challenge, 200 with a rotated bound cookie,
    or 200 ``continue: false`` when the session is gone."""
    dbsc = _on(config)
    now = config.now()
    key = session.session_key
    binding = Binding.from_meta(session.get_meta(BINDING))
    session_id = parse_string(facts.headers.get("sec-secure-session-id"))
    if (
        key is None
        or binding is None
        or session_id is None
        or not hmac.compare_digest(session_id.encode(), binding.session_id.encode())
    ):
        return _ended()
    raw = _proof_header(facts)
    if raw is None:
        return (yield from _challenge(config, session, binding, now))
    try:
        proof = parse_proof(raw)
        verify(proof, binding.jwk, (binding.alg,))
    except ForgedProof as exc:
        # The long-lived cookie is in hands that lack the key: end the session.
        security_logger.warning("dbsc refresh proof refused (%s): session ended", exc)
        _event(config, "dbsc_forged", key)
        session.flush()
        return _ended()
    except BadProof:
        return (yield from _challenge(config, session, binding, now))
    if not binding.challenge_accepted(proof.jti, now, dbsc.challenge_ttl):
        return (yield from _challenge(config, session, binding, now))
    # The challenge is consumed once; its claim tells racers the challenge
    # this refresh will install, so that they need not compete for the generation.
    following = new_secret()
    sealed = seal(key, _NEXT + proof.jti, following)
    if not (yield from claim(proof.jti, _USED, now=now, ttl=dbsc.challenge_ttl, value=sealed)):
        security_logger.info("dbsc refresh with a used challenge (a replay, or a race)")
        return (yield from _challenge(config, session, binding, now))
    cookie = new_secret()
    advanced, following = yield from _advance(
        session, binding, now, following, cookie, dbsc.cookie_age
    )
    if advanced is None:
        return _forbidden(following, binding.session_id)
    _event(config, "dbsc_refreshed", key)
    return _bound(config, facts, advanced, cookie)


def _advance(
    session: Session,
    binding: Binding,
    now: float,
    following: str,
    cookie: str | None = None,
    age: float = 0,
) -> Steps[tuple[Binding | None, str]]:
    """Move ``binding`` to its next generation, once among racers.

    The winner stages the new binding and gets it with its challenge; a
    loser gets ``None`` and the winner's challenge (to sign on a retry).
    """
    key = session.session_key or ""
    purpose = f"dbsc-gen/{binding.session_id}/{binding.generation}"
    sealed = seal(key, purpose, following)
    if (yield from claim(key, purpose, now=now, ttl=_GENERATION_TTL, value=sealed)):
        advanced = binding.advanced(following, now, cookie, age)
        session.set_meta(BINDING, advanced.to_meta())
        return advanced, following
    winner = yield from read_claim(key, purpose)
    won = unseal(key, purpose, winner) if winner else None
    return None, won or binding.challenges[0][0]


def _challenge(
    config: SessionConfig, session: Session, binding: Binding, now: float
) -> Steps[Reply]:
    """403 with a challenge to sign: the current one while it is fresh and
    unused (no write), else a new one kept as current."""
    dbsc = _on(config)
    current, issued = binding.challenges[0]
    if now - issued <= dbsc.challenge_ttl / 2:
        used = yield from read_claim(current, _USED)
        if used is None:
            return _forbidden(current, binding.session_id)
        # A refresh consumed it and is installing its successor: hand that out.
        installing = unseal(session.session_key or "", _NEXT + current, used)
        if installing is not None:
            return _forbidden(installing, binding.session_id)
    _, following = yield from _advance(session, binding, now, new_secret())
    return _forbidden(following, binding.session_id)
