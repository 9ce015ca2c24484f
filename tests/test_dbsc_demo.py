"""The demo offers a device binding at sign-in and shows which sessions are device-bound."""

from __future__ import annotations

from starlette.testclient import TestClient

from sessionary._dbsc._sfv import parse_list

from .dbsc_agent import DeviceKey
from .test_demo import app_db, other_visitor, shop, sign_in

__all__ = ["app_db", "shop"]  # fixtures, shared with the demo's own tests


def register(client: TestClient, offer: str) -> None:
    (entry,) = parse_list(offer)
    path, challenge = entry.params["path"], entry.params["challenge"]
    assert isinstance(path, str)
    assert isinstance(challenge, str)
    proof = DeviceKey("ES256").proof(challenge, with_jwk=True)
    response = client.post(path, headers={"secure-session-response": f'"{proof}"'})
    assert response.status_code == 200
    assert response.json()["session_identifier"]


def test_sign_in_offers_a_binding_and_the_sessions_page_shows_it(shop: TestClient) -> None:
    response = sign_in(shop)
    offer = response.headers.get("secure-session-registration")
    assert offer is not None
    register(shop, offer)
    plain = other_visitor(shop, "Mozilla/5.0 (Windows NT 10.0) Firefox/130.0")
    sign_in(plain)  # a browser without DBSC ignores the offer
    sessions = shop.get("/account/sessions").text
    assert sessions.count('data-testid="device-bound"') == 1
    assert "yes: this browser proved its key" in shop.get("/session").text
    assert '<dd data-testid="device-bound">no</dd>' in plain.get("/session").text
