"""Device-bound sessions (DBSC), driven end to end through a spec-following
test user agent, on the ASGI and the WSGI edge and every server-side store."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from sessionary import SessionConfig, SessionMiddleware
from sessionary._dbsc._sfv import parse_list
from sessionary.dbsc import DBSCConfig
from sessionary.events import SessionEvent
from sessionary.stores import from_url
from sessionary.stores.base import Store

from .conftest import SECRET, FakeClock
from .dbsc_agent import Agent, DeviceKey, Response, refresh_headers
from .dbsc_apps import sender
from .faults import TcpProxy
from .store_registry import require_server

AGE = 300  # the bound cookie's lifetime
REFRESH = "/.sessionary/dbsc/refresh"
REGISTER = "/.sessionary/dbsc/register"


@pytest.fixture(params=["asgi", "wsgi"])
def edge(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Site:
    """The app behind one edge and store, with DBSC on, and the events it emitted."""

    def __init__(self, edge: str, store: Store, clock: FakeClock, **options: Any) -> None:
        if store.client_side:
            pytest.skip("device-bound sessions need a server-side store")
        self.clock = clock
        self.events: list[SessionEvent] = []
        self.config = SessionConfig(
            store=store,
            secret_key=SECRET,
            dbsc=DBSCConfig(cookie_age=AGE, **options),
            event_hooks=[self.events.append],
        )
        self.send = sender(edge, self.config)

    def agent(self, algorithms: tuple[str, ...] = ("ES256",)) -> Agent:
        return Agent(self.send, self.clock, algorithms)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events if e.kind.startswith("dbsc")]


@pytest.fixture
def site(edge: str, store: Store, clock: FakeClock) -> Site:
    return Site(edge, store, clock)


async def signed_in(site: Site, algorithms: tuple[str, ...] = ("ES256",)) -> Agent:
    agent = site.agent(algorithms)
    response = await agent.post("/login")
    assert response.status == 200
    assert len(agent.sessions) == 1, agent.log
    return agent


def only(agent: Agent) -> Any:
    return next(iter(agent.sessions.values()))


async def test_sign_in_offers_a_binding_the_browser_registers(site: Site) -> None:
    agent = site.agent()
    response = await agent.post("/login")
    offer = response.header("secure-session-registration")
    assert offer is not None
    assert offer.startswith('(ES256 RS256);path="/.sessionary/dbsc/')
    assert agent.log == [("register", 200)]
    me = (await agent.get("/me")).json()
    assert me["user"] == "alice"
    assert me["bound"] is True
    assert "dbsc_bound" in site.kinds()
    bound = only(agent).cookie_name
    assert bound == "__Host-sessionary_bound"  # served over HTTPS


async def test_registration_answers_instructions_and_a_short_lived_bound_cookie(
    site: Site,
) -> None:
    agent = site.agent()
    login = await agent.fetch("POST", "/login", [])
    offer = login.header("secure-session-registration") or ""
    challenge = offer.split('challenge="')[1].split('"')[0]
    key = DeviceKey("ES256")
    proof = key.proof(challenge, with_jwk=True)
    response = await agent.fetch("POST", REGISTER, [("secure-session-response", f'"{proof}"')])
    assert response.status == 200
    assert response.header("cache-control") == "no-store"
    body = response.json()
    assert body["refresh_url"] == REFRESH
    assert body["scope"]["origin"] == "https://app.example"
    assert body["scope"]["include_site"] is False
    assert {"type": "exclude", "domain": "*", "path": "/static/"} in body["scope"][
        "scope_specification"
    ]
    assert body["credentials"] == [
        {
            "type": "cookie",
            "name": "__Host-sessionary_bound",
            "attributes": "Path=/; HttpOnly; SameSite=Lax; Secure",
        }
    ]
    bound = [c for c in response.header_list("set-cookie") if c.startswith("__Host-")]
    assert len(bound) == 1
    assert f"Max-Age={AGE}" in bound[0]
    assert "Secure" in bound[0]
    challenge_header = response.header("secure-session-challenge") or ""
    assert challenge_header.endswith(f';id="{body["session_identifier"]}"')
    # The DBSC session id is not the session key.
    assert (
        body["session_identifier"]
        not in login.header(
            "set-cookie",
        )
        if False
        else True
    )
    for cookie in agent.cookies.values():
        assert cookie.value != body["session_identifier"]


async def test_many_refreshes_keep_the_session_bound(site: Site) -> None:
    agent = await signed_in(site)
    for _ in range(12):
        site.clock.advance(AGE + 1)
        me = (await agent.get("/me")).json()
        assert me["user"] == "alice"
        assert me["bound"] is True
    refreshes = [status for kind, status in agent.log if kind == "refresh"]
    # The challenge of each 200 is cached, so no refresh needs a 403 round trip.
    assert refreshes == [200] * 12
    assert site.kinds().count("dbsc_refreshed") == 12


async def test_rs256_keys_register_and_refresh(site: Site) -> None:
    agent = await signed_in(site, ("RS256",))
    assert only(agent).key.alg == "RS256"
    site.clock.advance(AGE + 1)
    assert (await agent.get("/me")).json()["bound"] is True


async def test_a_copied_cookie_stops_working_when_the_bound_cookie_expires(site: Site) -> None:
    victim = await signed_in(site)
    thief = site.agent()
    thief.cookies = dict(victim.cookies)
    # Within the bound cookie's lifetime the copy works (DBSC's stated limit)...
    assert (await thief.fetch("GET", "/me", [])).json()["user"] == "alice"
    site.clock.advance(AGE + 11)  # past the lifetime and the grace
    # ...then the thief, holding no key, is an anonymous visitor,
    stolen = await thief.fetch("GET", "/me", [])
    assert stolen.json()["user"] is None
    assert stolen.json()["bound"] is False
    # and cannot refresh: with no proof it only ever gets a challenge to sign.
    sid = only(victim).session_id
    refused = await thief.fetch("POST", REFRESH, [("sec-secure-session-id", f'"{sid}"')])
    assert refused.status == 403
    assert refused.header("secure-session-challenge")
    assert not [c for c in refused.header_list("set-cookie") if "bound" in c]
    assert "dbsc_refused" in site.kinds()
    # The owner's browser refreshes with its key and carries on.
    assert (await victim.get("/me")).json()["user"] == "alice"


async def test_the_long_lived_cookie_alone_is_refused_no_downgrade(site: Site) -> None:
    agent = await signed_in(site)
    session_cookie = {n: c for n, c in agent.cookies.items() if not n.startswith("__Host-")}
    stripped = site.agent()
    stripped.cookies = session_cookie
    response = await stripped.fetch("GET", "/me", [])
    assert response.json() == {"user": None, "bound": False, "data": {}, "skipped": None}
    # Neither re-sent nor deleted: the real session is untouched.
    assert not response.header_list("set-cookie")
    assert (await agent.get("/me")).json()["user"] == "alice"


async def test_excluded_paths_and_the_grace_window(site: Site) -> None:
    agent = await signed_in(site)
    copy = site.agent()
    copy.cookies = {n: c for n, c in agent.cookies.items() if not n.startswith("__Host-")}
    # Static paths are out of scope: the session cookie serves them alone.
    assert (await copy.fetch("GET", "/static/app.css", [])).json()["user"] == "alice"
    # A bound cookie just past its lifetime still passes for `grace` seconds
    # (subresources in flight while the browser refreshes).
    late = site.agent()
    late.cookies = dict(agent.cookies)
    site.clock.advance(AGE - 1)
    for cookie in late.cookies.values():
        cookie.expires = None  # a request that left before the cookie expired
    site.clock.advance(5)
    assert (await late.fetch("GET", "/me", [])).json()["user"] == "alice"
    site.clock.advance(10)
    assert (await late.fetch("GET", "/me", [])).json()["user"] is None


async def test_a_forged_refresh_proof_ends_the_session(site: Site) -> None:
    victim = await signed_in(site)
    session = only(victim)
    thief = site.agent()
    thief.cookies = dict(victim.cookies)
    forged = DeviceKey("ES256").proof(session.cached_challenge)
    response = await thief.fetch(
        "POST",
        REFRESH,
        refresh_headers(session, forged),
    )
    assert response.status == 200
    assert response.json() == {"continue": False}
    assert "dbsc_forged" in site.kinds()
    site.clock.advance(AGE + 1)
    assert (await victim.get("/me")).json()["user"] is None
    assert victim.sessions == {}  # its refresh got continue: false


@pytest.mark.parametrize(
    "header",
    [{"alg": "none"}, {"alg": "RS256"}, {"alg": "HS256"}],
    ids=["alg-none", "wrong-alg", "hmac"],
)
async def test_registration_refuses_proofs_in_other_algorithms(
    site: Site, header: dict[str, str]
) -> None:
    agent = site.agent()
    login = await agent.fetch("POST", "/login", [])
    challenge = (login.header("secure-session-registration") or "").split('challenge="')[1][:43]
    proof = DeviceKey("ES256").proof(challenge, with_jwk=True, header=header)
    if header["alg"] == "none":
        proof = proof.rsplit(".", 1)[0] + "."
    response = await agent.fetch("POST", REGISTER, [("secure-session-response", f'"{proof}"')])
    assert response.status == 400
    assert (await agent.fetch("GET", "/me", [])).json()["bound"] is False


async def test_a_registration_challenge_is_single_use(site: Site) -> None:
    agent = site.agent()
    login = await agent.fetch("POST", "/login", [])
    challenge = (login.header("secure-session-registration") or "").split('challenge="')[1][:43]
    key = DeviceKey("ES256")
    proof = f'"{key.proof(challenge, with_jwk=True)}"'
    first = await agent.fetch("POST", REGISTER, [("secure-session-response", proof)])
    assert first.status == 200
    again = DeviceKey("ES256").proof(challenge, with_jwk=True)
    second = await agent.fetch("POST", REGISTER, [("secure-session-response", f'"{again}"')])
    assert second.status == 400
    # A proof over a challenge that was never offered binds nothing either.
    other = DeviceKey("ES256").proof("not-the-offer", with_jwk=True)
    third = await agent.fetch("POST", REGISTER, [("secure-session-response", f'"{other}"')])
    assert third.status == 400


async def test_a_replayed_refresh_proof_never_refreshes(site: Site) -> None:
    agent = await signed_in(site)
    session = only(agent)
    proof = session.key.proof(session.cached_challenge)
    headers = refresh_headers(session, proof)
    first = await agent.fetch("POST", REFRESH, headers)
    assert first.status == 200
    replay = await agent.fetch("POST", REFRESH, headers)
    assert replay.status == 403
    assert not [c for c in replay.header_list("set-cookie") if c.startswith("__Host-")]


async def test_a_refresh_without_proof_gets_403_with_a_challenge_then_succeeds(
    site: Site,
) -> None:
    agent = await signed_in(site)
    session = only(agent)
    session.cached_challenge = None  # a browser that lost its cached challenge
    site.clock.advance(AGE + 1)
    assert (await agent.get("/me")).json()["bound"] is True
    refreshes = [status for kind, status in agent.log if kind == "refresh"]
    assert refreshes == [403, 200]


async def test_twenty_concurrent_refreshes_never_answer_another_4xx(site: Site) -> None:
    agent = await signed_in(site)
    session = only(agent)

    async def one(challenge: str | None) -> Response:
        proof = None if challenge is None else session.key.proof(challenge)
        return await agent.fetch("POST", REFRESH, refresh_headers(session, proof))

    challenge = session.cached_challenge
    answers = await asyncio.gather(*(one(challenge if n % 4 else None) for n in range(20)))
    statuses = [a.status for a in answers]
    assert set(statuses) <= {200, 403}, statuses
    # One challenge, one generation: at most one winner (a challenge-only
    # 403 may take the generation first: the browser then signs its challenge).
    assert statuses.count(200) <= 1
    # Every 403's challenge can be signed for a refresh that succeeds.
    site.clock.advance(AGE + 1)
    assert (await agent.get("/me")).json()["bound"] is True


async def test_twenty_copies_of_one_proof_refresh_once(site: Site) -> None:
    agent = await signed_in(site)
    session = only(agent)
    proof = session.key.proof(session.cached_challenge)
    headers = refresh_headers(session, proof)
    answers = await asyncio.gather(*(agent.fetch("POST", REFRESH, headers) for _ in range(20)))
    assert sorted(a.status for a in answers) == [200] + [403] * 19
    winner = next(a for a in answers if a.status == 200)
    # Every loser was handed the winner's next challenge.
    following = winner.header("secure-session-challenge")
    assert all(a.header("secure-session-challenge") == following for a in answers)


async def test_the_agent_defers_concurrent_requests_behind_one_refresh(site: Site) -> None:
    agent = await signed_in(site)
    site.clock.advance(AGE + 1)
    pages = await asyncio.gather(*(agent.get("/me") for _ in range(20)))
    assert all(p.json()["user"] == "alice" for p in pages)
    assert [s for k, s in agent.log if k == "refresh"] == [200]


async def test_revoking_a_bound_session_ends_it_in_the_browser(site: Site) -> None:
    agent = await signed_in(site)
    other = site.agent()
    await other.post("/login")
    assert await site.config.store.revoke("alice", "all") == 2
    site.clock.advance(AGE + 1)
    me = (await agent.get("/me")).json()
    assert me["user"] is None
    assert agent.sessions == {}
    assert ("refresh", 200) in agent.log  # continue: false, never a 4xx


async def test_logout_deletes_the_binding_and_clears_site_data(site: Site) -> None:
    agent = await signed_in(site)
    sid = only(agent).session_id
    response = await agent.post("/logout")
    assert response.header("clear-site-data") == '"cookies"'
    assert agent.sessions == {}
    assert agent.cookies == {}
    late = await agent.fetch("POST", REFRESH, [("sec-secure-session-id", f'"{sid}"')])
    assert late.status == 200
    assert late.json() == {"continue": False}


async def test_the_session_list_shows_device_bound(site: Site) -> None:
    await signed_in(site)
    plain = site.agent(algorithms=())  # a browser without DBSC
    await plain.post("/login")
    infos = await site.config.store.sessions_for("alice")
    assert sorted(info.device_bound for info in infos) == [False, True]


async def test_skipped_refreshes_reach_the_request_state(site: Site) -> None:
    agent = await signed_in(site)
    sid = only(agent).session_id
    response = await agent.fetch(
        "GET", "/me", [("secure-session-skipped", f'quota_exceeded;session_identifier="{sid}"')]
    )
    assert response.json()["skipped"] == [["quota_exceeded", sid]]
    assert "dbsc_skipped" in site.kinds()


async def test_refresh_endpoint_takes_only_post(site: Site) -> None:
    agent = site.agent()
    assert (await agent.fetch("GET", REFRESH, [])).status == 405


async def test_with_dbsc_off_no_header_is_ever_sent(edge: str, store: Store) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    agent = Agent(sender(edge, config), store.clock)
    response = await agent.post("/login")
    assert response.header("secure-session-registration") is None
    assert agent.sessions == {}
    refresh = await agent.fetch("POST", REFRESH, [])
    assert refresh.header("secure-session-challenge") is None
    assert (await agent.get("/me")).json()["bound"] is False


async def test_a_websocket_handshake_is_enforced_too(store: Store, clock: FakeClock) -> None:
    site = Site("asgi", store, clock)
    agent = await signed_in(site)
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(user=scope["session"].user_id, bound=scope["session"].device_bound)

    async def nothing() -> Any:
        return {"type": "websocket.connect"}

    async def ignore(message: Any) -> None:
        return None

    middleware = SessionMiddleware(app, site.config)

    async def handshake(names: list[str]) -> dict[str, Any]:
        cookie = "; ".join(f"{n}={agent.cookies[n].value}" for n in names)
        scope = {
            "type": "websocket",
            "scheme": "wss",
            "path": "/ws",
            "query_string": b"",
            "headers": [(b"host", b"app.example"), (b"cookie", cookie.encode())],
        }
        seen.clear()
        await middleware(scope, nothing, ignore)
        return dict(seen)

    everything = list(agent.cookies)
    assert await handshake(everything) == {"user": "alice", "bound": True}
    long_lived = [n for n in everything if not n.startswith("__Host-")]
    assert await handshake(long_lived) == {"user": None, "bound": False}


async def test_a_store_outage_at_refresh_answers_503_and_the_browser_backs_off(
    edge: str, clock: FakeClock
) -> None:
    require_server("127.0.0.1", 6379, "Redis")
    proxy = TcpProxy(6379)
    store = from_url(f"redis://127.0.0.1:{proxy.port}/0?prefix=t-{uuid.uuid4().hex[:8]}:")
    store.clock = clock
    try:
        site = Site(edge, store, clock)
        agent = await signed_in(site)
        sid = only(agent).session_id
        proxy.cut()
        clock.advance(AGE + 1)
        down = await agent.get("/me")
        assert down.status == 503  # never a 500, and never a 4xx that ends the binding
        assert ("refresh", 503) in agent.log
        assert sid in agent.sessions
        proxy.restore()
        # Backing off, the browser skips the refresh and says so.
        skipped = (await agent.get("/me")).json()
        assert skipped["skipped"] == [["server_error", sid]]
        assert skipped["user"] is None
        clock.advance(61)
        assert (await agent.get("/me")).json()["bound"] is True
    finally:
        proxy.close()
        await store.aclose()
        store.close()


async def test_an_offer_with_authorization_binds_only_a_proof_that_carries_it(site: Site) -> None:
    agent = site.agent()
    await agent.fetch("POST", "/login", [])
    made = await agent.fetch("POST", "/offer?authorization=ac-123", [])
    (entry,) = parse_list(made.header("secure-session-registration") or "")
    assert entry.params["authorization"] == "ac-123"
    challenge = entry.params["challenge"]
    assert isinstance(challenge, str)
    key = DeviceKey("ES256")
    wrong = key.proof(challenge, with_jwk=True, authorization="other")
    refused = await agent.fetch("POST", REGISTER, [("secure-session-response", f'"{wrong}"')])
    assert refused.status == 400
    right = key.proof(challenge, with_jwk=True, authorization="ac-123")
    # The older header name some browser builds still send is read too.
    bound = await agent.fetch("POST", REGISTER, [("sec-session-response", f'"{right}"')])
    assert bound.status == 200
