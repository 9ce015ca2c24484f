"""The demo shop asks for the password again before signing out other devices
when the sign-in is older than five minutes (step-up re-authentication)."""

from __future__ import annotations

import pytest

pytest.importorskip("argon2", reason="the demo extra is not installed")

from pathlib import Path

from starlette.testclient import TestClient

from sessionary.demo.app import REAUTH_WITHIN, create_app
from sessionary.stores import from_url

from .conftest import FakeClock
from .test_demo import BASE, messages_on, other_visitor, post, sign_in, token


def test_signing_out_other_devices_needs_a_recent_sign_in(tmp_path: Path, clock: FakeClock) -> None:
    store = from_url(f"sqlite:///{tmp_path / 'demo.db'}")
    store.clock = clock
    with TestClient(create_app(store), base_url=BASE, follow_redirects=False) as shop:
        phone = other_visitor(shop, "Mozilla/5.0 (iPhone) Safari/605.1")
        sign_in(phone)
        sign_in(shop)
        clock.advance(REAUTH_WITHIN + 1)
        stale = post(
            shop, "/account/sessions/revoke-others", csrf_token=token(shop, "/account/sessions")
        )
        assert stale.headers["location"] == "/login?next=/account/sessions"
        page = shop.get(stale.headers["location"]).text
        assert messages_on(page) == [
            "Please enter your password again to sign out your other devices."
        ]
        assert phone.get("/dashboard").status_code == 200

        assert sign_in(shop, next="/account/sessions").headers["location"] == "/account/sessions"
        done = post(
            shop, "/account/sessions/revoke-others", csrf_token=token(shop, "/account/sessions")
        )
        assert messages_on(shop.get(done.headers["location"]).text) == [
            "Signed out 1 other session."
        ]
        assert phone.get("/dashboard").status_code == 303
    store.close()
