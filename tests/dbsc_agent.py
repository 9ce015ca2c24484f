"""A test user agent that speaks DBSC as the W3C draft says a browser does.

No browser on this machine exercises DBSC, so the tests drive the server
through this agent instead. It follows the draft's algorithms:

- **registration**: on a ``Secure-Session-Registration`` response header it
  picks the first listed algorithm it supports (ES256, RS256), makes a key
  pair, signs a ``dbsc+jwt`` proof (the challenge as ``jti``, the
  ``authorization`` copied, the public key as the header's ``jwk``) and
  POSTs it as ``Secure-Session-Response``; a 200 with session instructions
  creates the device session;
- **before each request** in a session's scope whose bound cookie is
  missing (expired), it refreshes first, and requests that arrive meanwhile
  wait for that one refresh (the draft's deferral);
- **refresh**: POST to the refresh URL with ``Sec-Secure-Session-Id`` and a
  proof over the cached challenge (no ``jwk``); a 403 caches the challenge it
  carries and retries once; any other 4xx ends the device session; a 5xx
  backs off (later requests carry ``Secure-Session-Skipped:
  server_error``); 200 ``continue: false`` ends it;
- ``Secure-Session-Challenge`` on any response is cached for its session;
  ``Clear-Site-Data: "cookies"`` drops every cookie and device session.

Time comes from the test's clock, so cookies expire without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from sessionary._dbsc._sfv import Item, Token, parse_list, serialize_string

Headers = list[tuple[str, str]]


@dataclass
class Response:
    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return ", ".join(values) if values else None

    def header_list(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


Send = Callable[[str, str, Headers], Awaitable[Response]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DeviceKey:
    """A session key pair the agent holds (never exported to the server)."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        self._ec = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else None
        self._rsa = rsa.generate_private_key(65537, 2048) if alg == "RS256" else None

    def jwk(self) -> dict[str, str]:
        if self._ec is not None:
            numbers = self._ec.public_key().public_numbers()
            return {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url(numbers.x.to_bytes(32, "big")),
                "y": b64url(numbers.y.to_bytes(32, "big")),
            }
        assert self._rsa is not None
        rsa_numbers = self._rsa.public_key().public_numbers()
        n = rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "n": b64url(n), "e": b64url(rsa_numbers.e.to_bytes(3, "big"))}

    def sign(self, data: bytes) -> bytes:
        if self._ec is not None:
            r, s = decode_dss_signature(self._ec.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert self._rsa is not None
        return self._rsa.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def proof(
        self,
        challenge: str,
        *,
        authorization: str | None = None,
        with_jwk: bool = False,
        header: dict[str, Any] | None = None,
    ) -> str:
        """A compact ``dbsc+jwt`` over ``challenge`` (``header`` overrides fields)."""
        head: dict[str, Any] = {"alg": self.alg, "typ": "dbsc+jwt"}
        if with_jwk:
            head["jwk"] = self.jwk()
        head.update(header or {})
        payload: dict[str, Any] = {"jti": challenge}
        if authorization is not None:
            payload["authorization"] = authorization
        signing_input = (
            b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(payload).encode())
        )
        return signing_input + "." + b64url(self.sign(signing_input.encode()))


@dataclass
class DeviceSession:
    """A device bound session as the agent stores it."""

    session_id: str
    refresh_url: str
    key: DeviceKey
    excluded: list[str]
    cookie_name: str
    cached_challenge: str | None = None
    backoff_until: float = 0.0
    refreshing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def in_scope(self, path: str) -> bool:
        if path == self.refresh_url:
            return False
        for prefix in reversed(self.excluded):
            if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return False
        return True


@dataclass
class Cookie:
    value: str
    expires: float | None


class Agent:
    """One browser profile: a cookie jar, device sessions, and their keys."""

    def __init__(
        self, send: Send, clock: Callable[[], float], algorithms: tuple[str, ...] = ("ES256",)
    ) -> None:
        self._send = send
        self._clock = clock
        self.algorithms = algorithms
        self.cookies: dict[str, Cookie] = {}
        self.sessions: dict[str, DeviceSession] = {}
        self.log: list[tuple[str, int]] = []
        self._skipped: list[tuple[str, str]] = []

    # -- the page's requests ---------------------------------------------------

    async def request(self, method: str, path: str, headers: Headers | None = None) -> Response:
        for session in list(self.sessions.values()):
            if session.in_scope(path) and self._missing(session.cookie_name):
                await self._refresh_deferring(session)
        extra = list(headers or [])
        if self._skipped:
            value = ", ".join(
                f"{reason};session_identifier={serialize_string(sid)}"
                for reason, sid in self._skipped
            )
            extra.append(("secure-session-skipped", value))
            self._skipped.clear()
        response = await self.fetch(method, path, extra)
        await self._registrations(response)
        return response

    async def get(self, path: str) -> Response:
        return await self.request("GET", path)

    async def post(self, path: str, headers: Headers | None = None) -> Response:
        return await self.request("POST", path, headers)

    async def fetch(self, method: str, path: str, headers: Headers) -> Response:
        """One HTTP exchange with the jar's cookies: no DBSC behaviour of its own."""
        now = self._clock()
        live = {n: c for n, c in self.cookies.items() if c.expires is None or c.expires > now}
        if live:
            headers = [*headers, ("cookie", "; ".join(f"{n}={c.value}" for n, c in live.items()))]
        response = await self._send(method, path, headers)
        self._absorb(response)
        return response

    def _missing(self, name: str) -> bool:
        cookie = self.cookies.get(name)
        return cookie is None or (cookie.expires is not None and cookie.expires <= self._clock())

    def _absorb(self, response: Response) -> None:
        if '"cookies"' in (response.header("clear-site-data") or ""):
            self.cookies.clear()
            self.sessions.clear()
        for line in response.header_list("set-cookie"):
            name, _, rest = line.partition("=")
            value, *attributes = [part.strip() for part in rest.split(";")]
            expires: float | None = None
            for attribute in attributes:
                attr, _, attr_value = attribute.partition("=")
                if attr.lower() == "max-age":
                    expires = self._clock() + int(attr_value)
            if expires is not None and expires <= self._clock():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = Cookie(value, expires)
        self._cache_challenges(response)

    def _cache_challenges(self, response: Response) -> None:
        raw = response.header("secure-session-challenge")
        if raw is None:
            return
        for item in parse_list(raw):
            sid = item.params.get("id")
            session = self.sessions.get(sid) if isinstance(sid, str) else None
            if session is not None and isinstance(item.value, str):
                session.cached_challenge = item.value

    # -- registration ----------------------------------------------------------

    async def _registrations(self, response: Response) -> None:
        raw = response.header("secure-session-registration")
        if raw is None:
            return
        for entry in parse_list(raw):
            await self._register(entry)

    async def _register(self, entry: Item) -> None:
        if not isinstance(entry.value, tuple):
            return
        path = entry.params.get("path")
        challenge = entry.params.get("challenge")
        authorization = entry.params.get("authorization")
        if not isinstance(path, str) or not isinstance(challenge, str):
            return
        offered = [i.value.value for i in entry.value if isinstance(i.value, Token)]
        usable = [alg for alg in offered if alg in self.algorithms]
        if not usable:
            return
        key = DeviceKey(usable[0])
        proof = key.proof(
            challenge,
            authorization=authorization if isinstance(authorization, str) else None,
            with_jwk=True,
        )
        response = await self.fetch("POST", path, [("secure-session-response", f'"{proof}"')])
        self.log.append(("register", response.status))
        if response.status != 200:
            return
        self._create(response, key)

    def _create(self, response: Response, key: DeviceKey) -> None:
        body = response.json()
        if body.get("continue") is False:
            return
        credentials = body["credentials"]
        scope = body["scope"]
        session = DeviceSession(
            session_id=body["session_identifier"],
            refresh_url=body.get("refresh_url") or "",
            key=key,
            excluded=[
                r["path"] for r in scope.get("scope_specification", []) if r["type"] == "exclude"
            ],
            cookie_name=credentials[0]["name"],
        )
        self.sessions[session.session_id] = session
        self._cache_challenges(response)

    # -- refresh ---------------------------------------------------------------

    async def _refresh_deferring(self, session: DeviceSession) -> None:
        async with session.refreshing:
            # A request that waited on another's refresh finds the cookie back.
            if self._missing(session.cookie_name) and session.session_id in self.sessions:
                await self.refresh(session)

    async def refresh(self, session: DeviceSession) -> str:
        """One refresh as the draft's "send request" algorithm; returns what happened."""
        if self._clock() < session.backoff_until:
            self._skipped.append(("server_error", session.session_id))
            return "backing off"
        for attempt in range(2):
            headers: Headers = [("sec-secure-session-id", serialize_string(session.session_id))]
            if session.cached_challenge is not None:
                proof = session.key.proof(session.cached_challenge)
                headers.append(("secure-session-response", serialize_string(proof)))
            response = await self.fetch("POST", session.refresh_url, headers)
            self.log.append(("refresh", response.status))
            if response.status == 403 and attempt == 0:
                continue  # the 403's challenge is cached: sign it once more
            if response.status == 403:
                return "refused twice"
            if 400 <= response.status < 500:
                self.sessions.pop(session.session_id, None)
                return "terminated"
            if response.status >= 500:
                session.backoff_until = self._clock() + 60
                self._skipped.append(("server_error", session.session_id))
                return "server error"
            if not response.body:
                return "no instructions"
            body = response.json()
            if body.get("continue") is False:
                self.sessions.pop(session.session_id, None)
                return "ended"
            return "refreshed"
        return "refused twice"  # pragma: no cover - the loop returns


def refresh_headers(session: DeviceSession, proof: str | None = None) -> Headers:
    """The headers of a refresh request for ``session``, with ``proof`` if given."""
    headers: Headers = [("sec-secure-session-id", serialize_string(session.session_id))]
    if proof is not None:
        headers.append(("secure-session-response", serialize_string(proof)))
    return headers
