"""The demo shop over HTTP (Starlette's TestClient), on the embedded SQLite store:
every feature a newcomer sees, one behaviour per test."""

from __future__ import annotations

import html
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

pytest.importorskip("starlette", reason="the demo extra is not installed")
pytest.importorskip("argon2", reason="the demo extra is not installed")

from starlette.applications import Starlette
from starlette.testclient import TestClient

from sessionary._keys import hash_key
from sessionary._rotation import MARKER
from sessionary.cli import main
from sessionary.demo.app import DEMO_USERS, create_app
from sessionary.demo.throttle import LoginThrottle

BASE = "http://testserver"
DASH = "\N{EN DASH}"


@pytest.fixture
def app_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'demo.db'}"


@pytest.fixture
def shop(app_db: str) -> Iterator[TestClient]:
    """A visitor of a freshly started shop (its lifespan runs `migrate`)."""
    with TestClient(create_app(app_db), base_url=BASE, follow_redirects=False) as client:
        yield client


def other_visitor(client: TestClient, user_agent: str, address: str = "testclient") -> TestClient:
    """A second browser on the same running shop."""
    return TestClient(
        client.app,
        base_url=BASE,
        follow_redirects=False,
        headers={"user-agent": user_agent},
        client=(address, 50000),
    )


def token(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def post(client: TestClient, path: str, **fields: str) -> Any:
    fields.setdefault("csrf_token", token(client))
    return client.post(path, data=fields)


def sign_in(client: TestClient, username: str = "alice", **fields: str) -> Any:
    fields.setdefault("password", DEMO_USERS[username][1])
    return post(client, "/login", username=username, **fields)


def text_of(response: Any) -> str:
    return html.unescape(response.text)


def cart_count(page: str) -> int:
    found = re.search(r'data-testid="cart-count">(\d+)<', page)
    assert found, "no cart count on the page"
    return int(found.group(1))


def messages_on(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="message [^"]*">([^<]*)</p>', page)]


def session_cookie(client: TestClient) -> str | None:
    return client.cookies.get("sessionid")


def stored_sessions(app_db: str) -> int:
    """How many session records the shop's SQLite file holds."""
    with sqlite3.connect(app_db.removeprefix("sqlite:///")) as db:
        count: int = db.execute("SELECT count(*) FROM sessionary_session").fetchone()[0]
    return count


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttled_shop(app_db: str, clock: Clock) -> Iterator[TestClient]:
    """The shop with a sign-in throttle on a clock the test controls."""
    app = create_app(app_db, throttle=LoginThrottle(clock=clock))
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        yield client


# -- a visitor who only looks leaves nothing behind ---------------------------------

BROWSING = ["/", "/records", "/records?genre=jazz&page=1", "/cart", "/login", "/signup/1"]


def test_a_hundred_anonymous_page_views_store_nothing_and_set_no_session_cookie(
    shop: TestClient, app_db: str
) -> None:
    for i in range(100):
        # A crawler: a new client every time, no cookies kept.
        crawler = other_visitor(shop, f"crawler {i}")
        response = crawler.get(BROWSING[i % len(BROWSING)])
        assert response.status_code == 200
        assert "sessionid" not in response.headers.get("set-cookie", "")
    assert stored_sessions(app_db) == 0


def test_a_browsing_visitor_gets_one_csrf_cookie_and_no_session(
    shop: TestClient, app_db: str
) -> None:
    first = shop.get("/")
    assert first.headers["set-cookie"].startswith("csrftoken=")
    assert "HttpOnly" in first.headers["set-cookie"]
    for path in BROWSING * 5:
        assert "set-cookie" not in shop.get(path).headers, path
    assert session_cookie(shop) is None
    assert stored_sessions(app_db) == 0


def test_a_failed_sign_in_stores_nothing(shop: TestClient, app_db: str) -> None:
    assert sign_in(shop, password="wrong password").status_code == 400
    assert session_cookie(shop) is None
    assert stored_sessions(app_db) == 0


def test_the_first_stateful_action_starts_the_session(shop: TestClient, app_db: str) -> None:
    add(shop, 1)
    assert session_cookie(shop) is not None
    assert stored_sessions(app_db) == 1


# -- signing in and out ----------------------------------------------------------


def test_home_names_the_demo_users(shop: TestClient) -> None:
    page = shop.get("/").text
    assert "alice" in page
    assert "wonderland" in page
    assert "bob" in page
    assert "canwefixit" in page


def test_wrong_password_is_answered_with_a_flash_and_no_sign_in(shop: TestClient) -> None:
    response = sign_in(shop, password="not-the-password")
    assert response.status_code == 400
    assert messages_on(response.text) == ["That username and password do not match. Try again."]
    assert shop.get("/dashboard").status_code == 303


def test_unknown_user_gets_the_same_answer(shop: TestClient) -> None:
    response = post(shop, "/login", username="mallory", password="wonderland")
    assert response.status_code == 400
    assert messages_on(response.text) == ["That username and password do not match. Try again."]


def test_sign_in_cycles_the_key_and_kills_the_old_one(shop: TestClient) -> None:
    add(shop, 1)  # something worth a session before signing in
    csrf = token(shop)
    before = session_cookie(shop)
    assert before is not None
    response = shop.post(
        "/login", data={"username": "alice", "password": "wonderland", "csrf_token": csrf}
    )
    assert response.status_code == 303
    after = session_cookie(shop)
    assert after is not None
    assert after != before
    # The old record only points at the new session, for the rotation's
    # grace window and only for this browser (see the last lines).
    old = cast(Starlette, shop.app).state.store.load_sync(before)
    assert old is None or MARKER in old.meta
    dashboard = shop.get(response.headers["location"])
    assert dashboard.status_code == 200
    assert "Welcome back, Alice Liddell. You are signed in." in messages_on(dashboard.text)
    # The planted old key signs nobody in: in the rotation's grace window it
    # leads to the new session only for the browser that signed in.
    stale = other_visitor(shop, "stale")
    stale.cookies.set("sessionid", before)
    assert stale.get("/dashboard").status_code == 303


def test_sign_in_replaces_the_csrf_token(shop: TestClient) -> None:
    before = token(shop)
    sign_in(shop)
    assert token(shop, "/cart") != before


def test_sign_out_ends_the_session(shop: TestClient) -> None:
    sign_in(shop)
    key = session_cookie(shop)
    response = post(shop, "/logout", csrf_token=token(shop, "/dashboard"))
    assert response.headers["location"] == "/"
    assert not cast(Starlette, shop.app).state.store.exists_sync(key)
    home = shop.get("/")
    assert messages_on(home.text) == ["You are signed out. See you soon."]
    assert shop.get("/dashboard").status_code == 303


# -- CSRF --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/login", "/logout", "/cart/add", "/cart/checkout", "/theme", "/signup/1"]
)
@pytest.mark.parametrize("sent", [None, "forged"])
def test_posts_without_this_sessions_csrf_token_are_refused(
    shop: TestClient, path: str, sent: str | None
) -> None:
    token(shop)  # the visitor has a CSRF cookie and a token
    data = {"username": "alice", "password": "wonderland", "record": "1", "theme": "dark"}
    if sent is not None:
        data["csrf_token"] = sent
    response = shop.post(path, data=data)
    assert response.status_code == 403
    assert "did not come from this site" in text_of(response)
    page = shop.get("/").text
    assert cart_count(page) == 0
    assert 'data-theme="light"' in page
    assert shop.get("/dashboard").status_code == 303


def test_an_anonymous_token_does_not_work_once_signed_in(shop: TestClient) -> None:
    before = token(shop)
    sign_in(shop)
    response = shop.post("/cart/add", data={"record": "1", "csrf_token": before})
    assert response.status_code == 403
    assert cart_count(shop.get("/cart").text) == 0


def test_a_signed_in_token_from_a_browser_without_a_session_is_refused(
    shop: TestClient, app_db: str
) -> None:
    signed_in = other_visitor(shop, "alice's laptop")
    sign_in(signed_in)
    theirs = token(signed_in, "/cart")
    token(shop)
    response = shop.post("/cart/add", data={"record": "1", "csrf_token": theirs})
    assert response.status_code == 403
    assert stored_sessions(app_db) == 1  # the laptop's: no record for the refused form


def test_a_token_without_its_cookie_is_refused(shop: TestClient) -> None:
    sent = token(shop)
    cookieless = other_visitor(shop, "a forged form elsewhere")
    response = cookieless.post("/cart/add", data={"record": "1", "csrf_token": sent})
    assert response.status_code == 403


def test_a_token_from_another_session_is_refused(shop: TestClient) -> None:
    theirs = token(other_visitor(shop, "other"))
    token(shop)
    assert shop.post("/cart/add", data={"record": "1", "csrf_token": theirs}).status_code == 403


# -- the dashboard, and coming back after signing in ------------------------------


def test_dashboard_sends_visitors_to_sign_in_and_back(shop: TestClient) -> None:
    response = shop.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdashboard"
    login_page = shop.get(response.headers["location"])
    assert "Please sign in to see that page." in messages_on(login_page.text)
    assert 'name="next" value="/dashboard"' in login_page.text
    signed_in = sign_in(shop, next="/dashboard")
    assert signed_in.headers["location"] == "/dashboard"
    assert "Hello, Alice Liddell" in shop.get("/dashboard").text


def test_coming_back_keeps_the_query(shop: TestClient) -> None:
    response = shop.get("/account/sessions?sort=recent")
    assert response.headers["location"] == "/login?next=%2Faccount%2Fsessions%3Fsort%3Drecent"
    assert sign_in(shop, next="/account/sessions?sort=recent").headers["location"] == (
        "/account/sessions?sort=recent"
    )


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_next_never_leaves_the_site(shop: TestClient, target: str) -> None:
    assert sign_in(shop, next=target).headers["location"] == "/dashboard"


# -- catalogue: filters and pagination in the URL ----------------------------------


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<h3>([^<]+)</h3>", page)]


def test_genre_filter_and_pages_live_in_the_url(shop: TestClient) -> None:
    jazz = shop.get("/records?genre=jazz")
    assert f"Showing 1{DASH}7 of 7 records." in text_of(jazz)
    assert "Kind of Blue" in titles(jazz.text)
    assert 'rel="next"' not in jazz.text
    first = shop.get("/records?q=o")
    assert f"Showing 1{DASH}12 of 23 records." in text_of(first)
    assert 'href="/records?q=o&amp;page=2"' in first.text
    second = shop.get("/records?q=o&page=2")
    assert f"Showing 13{DASH}23 of 23 records." in text_of(second)
    assert 'href="/records?q=o"' in second.text  # back to page 1, search kept


def test_a_page_of_records_fills_whole_rows(shop: TestClient) -> None:
    # 12 records: full rows on the grid's 1, 2, 3 and 4 columns.
    assert len(titles(shop.get("/records").text)) == 12
    assert len(titles(shop.get("/records?page=2").text)) == 12


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("genre=&q=", "/records"),
        ("genre=jazz&q=", "/records?genre=jazz"),
        ("genre=&q=blue", "/records?q=blue"),
        ("genre=soul&q=+&page=2", "/records?genre=soul&page=2"),
    ],
)
def test_empty_filters_are_dropped_from_the_url(
    shop: TestClient, query: str, canonical: str
) -> None:
    response = shop.get(f"/records?{query}")
    assert response.status_code == 302
    assert response.headers["location"] == canonical


def test_search_combines_with_genre_and_pages(shop: TestClient) -> None:
    page = shop.get("/records?genre=jazz&q=coltrane")
    assert sorted(titles(page.text)) == ["A Love Supreme", "Blue Train"]
    assert 'value="coltrane"' in page.text


def test_every_genre_lists_only_its_records(shop: TestClient) -> None:
    page = shop.get("/records?genre=folk")
    assert sorted(titles(page.text)) == ["Blue", "Bringing It All Back Home", "Pink Moon"]


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("page=abc", f"Showing 1{DASH}12"),
        ("page=-3", f"Showing 1{DASH}12"),
        ("page=99", f"Showing 25{DASH}25"),
    ],
)
def test_bad_page_numbers_fall_back_to_a_real_page(
    shop: TestClient, query: str, shown: str
) -> None:
    response = shop.get(f"/records?{query}")
    assert response.status_code == 200
    assert shown in text_of(response)


def test_unknown_genre_shows_everything(shop: TestClient) -> None:
    assert "of 25 records" in text_of(shop.get("/records?genre=polka"))


# -- cart --------------------------------------------------------------------------


def add(client: TestClient, record: int, back: str = "/records") -> Any:
    return post(client, "/cart/add", record=str(record), next=back)


def test_cart_count_shows_on_every_page(shop: TestClient) -> None:
    add(shop, 1)
    add(shop, 1)
    add(shop, 8)
    for path in [
        "/",
        "/records",
        "/records?genre=rock&page=1",
        "/cart",
        "/session",
        "/login",
        "/signup/1",
        "/nowhere",
    ]:
        assert cart_count(shop.get(path).text) == 3, path
    sign_in(shop)
    for path in ["/dashboard", "/account/sessions"]:
        assert cart_count(shop.get(path).text) == 3, path


def test_adding_returns_to_the_listing_with_a_flash(shop: TestClient) -> None:
    response = add(shop, 2, back="/records?genre=jazz&page=1")
    assert response.headers["location"] == "/records?genre=jazz&page=1"
    page = shop.get(response.headers["location"]).text
    assert messages_on(page) == ["Added “A Love Supreme” to your cart."]
    assert cart_count(page) == 1
    assert messages_on(shop.get("/records").text) == []  # shown once


def test_the_cart_lists_lines_and_total(shop: TestClient) -> None:
    add(shop, 1)
    add(shop, 1)
    add(shop, 2)
    page = text_of(shop.get("/cart"))
    assert "Kind of Blue" in page
    assert "A Love Supreme" in page
    assert "$72.97" in page  # 2 x 24.99 + 22.99


def test_removing_and_checking_out(shop: TestClient) -> None:
    add(shop, 1)
    add(shop, 2)
    post(shop, "/cart/remove", record="1")
    page = shop.get("/cart").text
    assert messages_on(page) == ["Removed “Kind of Blue” from your cart."]
    assert cart_count(page) == 1
    response = post(shop, "/cart/checkout")
    page = shop.get(response.headers["location"]).text
    assert messages_on(page) == ["Thank you! Your 1 record is on the way (not really)."]
    assert cart_count(page) == 0


def test_cart_survives_sign_in(shop: TestClient) -> None:
    add(shop, 3)
    sign_in(shop)
    assert cart_count(shop.get("/dashboard").text) == 1


def test_an_unknown_record_is_not_added(shop: TestClient) -> None:
    response = add(shop, 999)
    page = shop.get(response.headers["location"]).text
    assert messages_on(page) == ["That record is no longer in the shop."]
    assert cart_count(page) == 0


# -- theme -------------------------------------------------------------------------


def test_theme_is_kept_in_the_session(shop: TestClient) -> None:
    assert 'data-theme="light"' in shop.get("/").text
    response = post(shop, "/theme", theme="dark", next="/records?genre=soul")
    assert response.headers["location"] == "/records?genre=soul"
    for path in ["/records?genre=soul", "/cart", "/"]:
        assert 'data-theme="dark"' in shop.get(path).text
    post(shop, "/theme", theme="light")
    assert 'data-theme="light"' in shop.get("/").text


def test_an_unknown_theme_is_ignored(shop: TestClient) -> None:
    post(shop, "/theme", theme="neon")
    assert 'data-theme="light"' in shop.get("/").text


# -- sign-up wizard ----------------------------------------------------------------


def field_value(page: str, name: str) -> str | None:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


def wizard(client: TestClient, step: int, **fields: str) -> Any:
    return post(client, f"/signup/{step}", **fields)


def next_step(client: TestClient, step: int, action: str = "next", **fields: str) -> str:
    """Where the wizard sends the visitor after this step's form."""
    location: str = wizard(client, step, action=action, **fields).headers["location"]
    return location


def test_wizard_answers_survive_going_back_and_forth(shop: TestClient) -> None:
    assert next_step(shop, 1, username="carol", password="long enough") == "/signup/2"
    assert next_step(shop, 2, name="Carol Danvers", genre="soul", action="back") == "/signup/1"
    step1 = shop.get("/signup/1").text
    assert field_value(step1, "username") == "carol"
    assert "Password saved" in step1
    # Forward again without retyping the password: it was kept (as a hash).
    assert next_step(shop, 1, username="carol", password="") == "/signup/2"
    step2 = shop.get("/signup/2").text
    assert field_value(step2, "name") == "Carol Danvers"
    assert '<option value="soul" selected>' in step2


def test_wizard_keeps_only_a_hash_of_the_password(shop: TestClient) -> None:
    wizard(shop, 1, username="carol", password="long enough", action="next")
    page = shop.get("/session").text
    assert "long enough" not in page
    assert "$argon2" in page


def test_wizard_cannot_skip_ahead(shop: TestClient) -> None:
    assert shop.get("/signup/3").headers["location"] == "/signup/1"
    wizard(shop, 1, username="carol", password="long enough", action="next")
    assert shop.get("/signup/3").headers["location"] == "/signup/2"
    assert shop.get("/signup").headers["location"] == "/signup/2"


def test_wizard_explains_what_is_wrong(shop: TestClient) -> None:
    response = wizard(shop, 1, username="Al", password="short", action="next")
    assert response.status_code == 400
    page = text_of(response)
    assert "Use 3 to 20 lowercase letters, digits or underscores." in page
    assert "Use at least 8 characters." in page
    taken = wizard(shop, 1, username="alice", password="long enough", action="next")
    assert "That username is taken." in text_of(taken)


def test_wizard_completes_signs_in_and_forgets_the_answers(shop: TestClient) -> None:
    wizard(shop, 1, username="carol", password="long enough", action="next")
    wizard(shop, 2, name="Carol Danvers", genre="soul", action="next")
    refused = wizard(shop, 3, action="next")
    assert "Please accept" in text_of(refused)
    done = wizard(shop, 3, terms="yes", action="next")
    assert done.headers["location"] == "/dashboard"
    dashboard = shop.get("/dashboard").text
    assert "Welcome to the shop, Carol Danvers! Your account is ready." in messages_on(dashboard)
    assert "Hello, Carol Danvers" in dashboard
    assert '"signup"' not in shop.get("/session").text
    restart = shop.get("/signup/1").text
    assert field_value(restart, "username") == ""
    # The new account signs in like any other.
    post(shop, "/logout", csrf_token=token(shop, "/dashboard"))
    assert post(shop, "/login", username="carol", password="long enough").status_code == 303


def test_wizard_rechecks_answers_saved_by_back(shop: TestClient) -> None:
    wizard(shop, 1, username="carol", password="long enough", action="next")
    wizard(shop, 2, name="Carol Danvers", genre="soul", action="next")
    wizard(shop, 2, name="Carol Danvers", genre="<polka>", action="back")
    assert next_step(shop, 3, terms="yes") == "/signup/2"
    step2 = shop.get("/signup/2")
    assert "Pick one of the genres listed." in text_of(step2)
    assert next_step(shop, 2, name="Carol Danvers", genre="jazz") == "/signup/3"
    assert next_step(shop, 3, terms="yes") == "/dashboard"
    assert "Favourite genre" in shop.get("/dashboard").text


@pytest.mark.parametrize("username", ["<b>eve</b>", "e", "alice", ""])
def test_wizard_back_cannot_smuggle_a_bad_username(shop: TestClient, username: str) -> None:
    wizard(shop, 1, username="carol", password="long enough", action="next")
    wizard(shop, 2, name="Eve", genre="", action="next")
    # "Back" from the first step, with a username the "next" button would refuse.
    wizard(shop, 1, username=username, password="", action="back")
    assert shop.get("/signup/3").headers["location"] == "/signup/1"
    assert shop.get("/signup").headers["location"] == "/signup/1"
    assert next_step(shop, 3, terms="yes") == "/signup/1"
    assert next_step(shop, 2, name="Eve", genre="", action="next") == "/signup/1"
    if username:
        step1 = text_of(shop.get("/signup/1"))
        assert "lowercase letters" in step1 or "That username is taken." in step1
    refused = post(shop, "/login", username=username or "x", password="long enough")
    assert refused.status_code == 400  # no such account was created


def test_wizard_back_cannot_smuggle_an_empty_or_long_name(shop: TestClient) -> None:
    wizard(shop, 1, username="carol", password="long enough", action="next")
    wizard(shop, 2, name="Carol", genre="", action="next")
    for name, error in [("", "Tell us what to call you."), ("x" * 61, "at most 60 characters")]:
        wizard(shop, 2, name=name, genre="", action="back")
        assert next_step(shop, 3, terms="yes") == "/signup/2"
        assert error in text_of(wizard(shop, 2, name=name, genre="", action="next"))


def test_wizard_sends_back_to_step_one_when_the_username_was_taken_meanwhile(
    shop: TestClient,
) -> None:
    wizard(shop, 1, username="carol", password="long enough", action="next")
    wizard(shop, 2, name="Carol Danvers", genre="", action="next")
    rival = other_visitor(shop, "rival")
    wizard(rival, 1, username="carol", password="other password", action="next")
    wizard(rival, 2, name="Carol Rival", genre="", action="next")
    assert next_step(rival, 3, terms="yes") == "/dashboard"
    assert next_step(shop, 3, terms="yes") == "/signup/1"
    assert "That username is taken." in text_of(shop.get("/signup/1"))


@pytest.mark.parametrize("step", ["0", "4", "99"])
def test_wizard_steps_out_of_range_are_not_found(shop: TestClient, step: str) -> None:
    assert shop.get(f"/signup/{step}").status_code == 404


# -- your sessions -----------------------------------------------------------------


def test_sessions_page_lists_devices_and_signs_out_the_others(shop: TestClient) -> None:
    laptop = other_visitor(shop, "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    phone = other_visitor(shop, "Mozilla/5.0 (iPhone) Safari/605.1")
    sign_in(laptop)
    sign_in(phone)
    page = laptop.get("/account/sessions").text
    assert page.count('class="card device') == 2
    assert "Firefox on Linux" in page
    assert "Safari on iPhone" in page
    assert page.count("This device") == 1

    response = post(
        laptop, "/account/sessions/revoke-others", csrf_token=token(laptop, "/account/sessions")
    )
    page = laptop.get(response.headers["location"]).text
    assert messages_on(page) == ["Signed out 1 other session."]
    assert page.count('class="card device') == 1
    assert phone.get("/dashboard").status_code == 303
    assert laptop.get("/dashboard").status_code == 200


def test_sessions_page_needs_sign_in(shop: TestClient) -> None:
    assert shop.get("/account/sessions").status_code == 303
    token(shop)
    response = post(shop, "/account/sessions/revoke-others")
    assert response.headers["location"].startswith("/login")


def test_other_users_sessions_are_not_listed(shop: TestClient) -> None:
    sign_in(other_visitor(shop, "bob's browser"), username="bob")
    sign_in(shop)
    page = shop.get("/account/sessions").text
    assert page.count('class="card device') == 1


def test_sign_out_this_device_ends_only_that_session(shop: TestClient) -> None:
    laptop = other_visitor(shop, "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    phone = other_visitor(shop, "Mozilla/5.0 (iPhone) Safari/605.1")
    tablet = other_visitor(shop, "Mozilla/5.0 (Windows NT 10.0) Edg/120.0")
    for device in (laptop, phone, tablet):
        sign_in(device)
    page = laptop.get("/account/sessions").text
    assert page.count(">Sign out this device</button>") == 2
    phone_row = re.search(r'name="session" value="([0-9a-f]+)"[^<]*<button[^>]*iPhone', page)
    assert phone_row, "no sign-out button for the phone"
    response = post(
        laptop,
        "/account/sessions/revoke",
        session=phone_row.group(1),
        csrf_token=token(laptop, "/account/sessions"),
    )
    page = laptop.get(response.headers["location"]).text
    assert messages_on(page) == ["Signed out Safari on iPhone."]
    assert page.count('class="card device') == 2
    assert phone.get("/dashboard").status_code == 303
    assert tablet.get("/dashboard").status_code == 200
    assert laptop.get("/dashboard").status_code == 200


def test_sign_out_this_device_cannot_end_another_users_session(shop: TestClient) -> None:
    bob = other_visitor(shop, "bob's browser")
    sign_in(bob, username="bob")
    bobs_id = re.search(r'name="session" value="([0-9a-f]+)"', bob.get("/account/sessions").text)
    assert bobs_id
    sign_in(shop)
    response = post(
        shop,
        "/account/sessions/revoke",
        session=bobs_id.group(1),
        csrf_token=token(shop, "/account/sessions"),
    )
    page = shop.get(response.headers["location"]).text
    assert messages_on(page) == ["That device was already signed out."]
    assert bob.get("/dashboard").status_code == 200


def test_sign_out_on_the_current_row_signs_this_device_out(shop: TestClient) -> None:
    sign_in(shop)
    page = shop.get("/account/sessions").text
    mine = re.search(r'name="session" value="([0-9a-f]+)"', page)
    assert mine
    response = post(
        shop, "/account/sessions/revoke", session=mine.group(1), csrf_token=token(shop, "/cart")
    )
    assert response.headers["location"] == "/"
    assert shop.get("/dashboard").status_code == 303


def revoke_from_elsewhere(shop: TestClient) -> TestClient:
    """Sign ``shop`` in, then end its session from another device; return that device."""
    sign_in(shop)
    laptop = other_visitor(shop, "laptop")
    sign_in(laptop)
    post(laptop, "/account/sessions/revoke-others", csrf_token=token(laptop, "/cart"))
    return laptop


def test_a_device_signed_out_elsewhere_is_told_so_when_it_sends_a_form(
    shop: TestClient,
) -> None:
    sign_in(shop)
    stale_form_token = token(shop, "/records")
    laptop = other_visitor(shop, "laptop")
    sign_in(laptop)
    post(laptop, "/account/sessions/revoke-others", csrf_token=token(laptop, "/cart"))
    # The phone still shows a page rendered while signed in, and adds a record.
    response = shop.post(
        "/cart/add", data={"record": "1", "next": "/records", "csrf_token": stale_form_token}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Frecords"
    login_page = shop.get(response.headers["location"])
    assert messages_on(login_page.text) == [
        "You were signed out on this device. Sign in again to continue."
    ]
    assert cart_count(login_page.text) == 0


def test_a_device_signed_out_elsewhere_is_told_so_when_it_opens_a_members_page(
    shop: TestClient,
) -> None:
    revoke_from_elsewhere(shop)
    response = shop.get("/account/sessions")
    assert response.headers["location"].startswith("/login")
    assert messages_on(shop.get(response.headers["location"]).text) == [
        "You were signed out on this device. Sign in again to continue."
    ]


def test_signing_out_keeps_the_theme_on_the_device(shop: TestClient) -> None:
    sign_in(shop)
    post(shop, "/theme", theme="dark", csrf_token=token(shop, "/cart"))
    post(shop, "/logout", csrf_token=token(shop, "/cart"))
    assert shop.get("/dashboard").status_code == 303
    assert 'data-theme="dark"' in shop.get("/").text


def test_signing_out_keeps_the_cart_with_the_account(shop: TestClient) -> None:
    add(shop, 1)  # chosen before signing in
    sign_in(shop)
    add(shop, 2)
    post(shop, "/logout", csrf_token=token(shop, "/cart"))
    # Not left on the (maybe shared) device...
    assert cart_count(shop.get("/").text) == 0
    # ...but back at the next sign-in, on any device, with what was added meanwhile.
    laptop = other_visitor(shop, "laptop")
    add(laptop, 3)
    sign_in(laptop)
    page = text_of(laptop.get("/cart"))
    assert cart_count(page) == 3
    for title in ("Kind of Blue", "A Love Supreme", "Time Out"):
        assert title in page


# -- the sign-in throttle ---------------------------------------------------------

THROTTLED = "Too many failed sign-ins for this account or from your address."


def test_the_sixth_wrong_password_in_a_row_is_throttled(
    throttled_shop: TestClient, clock: Clock
) -> None:
    for _ in range(5):
        assert sign_in(throttled_shop, password="guess").status_code == 400
        clock.now += 1
    response = sign_in(throttled_shop, password="guess")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "295"
    [message] = messages_on(response.text)
    assert message == f"{THROTTLED} Try again in 5 minutes."


def test_the_right_password_waits_out_the_window_too(
    throttled_shop: TestClient, clock: Clock
) -> None:
    for _ in range(5):
        sign_in(throttled_shop, password="guess")
    clock.now += 240
    refused = sign_in(throttled_shop)
    assert refused.status_code == 429
    assert "Try again in 60 seconds." in messages_on(refused.text)[0]
    assert throttled_shop.get("/dashboard").status_code == 303
    clock.now += 60
    assert sign_in(throttled_shop).status_code == 303
    assert throttled_shop.get("/dashboard").status_code == 200


def test_failures_older_than_the_window_do_not_count(
    throttled_shop: TestClient, clock: Clock
) -> None:
    for _ in range(4):
        sign_in(throttled_shop, password="guess")
    clock.now += 301
    for _ in range(4):
        assert sign_in(throttled_shop, password="guess").status_code == 400
    assert sign_in(throttled_shop).status_code == 303


def test_the_throttle_counts_per_client_address_across_accounts(
    throttled_shop: TestClient,
) -> None:
    for name in ("carol", "dave", "erin", "frank", "grace"):
        post(throttled_shop, "/login", username=name, password="guess")
    response = sign_in(throttled_shop, username="bob")  # right password, other account
    assert response.status_code == 429
    assert THROTTLED in messages_on(response.text)[0]


def test_the_throttle_counts_per_account_whatever_the_address(throttled_shop: TestClient) -> None:
    for i in range(5):
        sign_in(other_visitor(throttled_shop, "bot", f"10.0.0.{i}"), password="guess")
    response = sign_in(throttled_shop)
    assert response.status_code == 429
    assert "Try again in 5 minutes." in messages_on(response.text)[0]


def test_a_success_forgets_the_accounts_failures(throttled_shop: TestClient) -> None:
    for _ in range(4):
        sign_in(throttled_shop, password="guess")
    sign_in(throttled_shop)
    post(throttled_shop, "/logout", csrf_token=token(throttled_shop, "/cart"))
    elsewhere = other_visitor(throttled_shop, "elsewhere", "10.0.0.1")
    for _ in range(5):
        assert sign_in(elsewhere, password="guess").status_code == 400
    assert sign_in(elsewhere, password="guess").status_code == 429


def test_the_throttle_keeps_bounded_memory_under_a_spray_of_names(clock: Clock) -> None:
    throttle = LoginThrottle(limit=2, window=60, max_keys=3, clock=clock)
    for i in range(10):
        throttle.failed([f"user:bot{i}"])
        throttle.failed([f"user:bot{i}"])
    # The oldest names were dropped; the newest are still blocked.
    assert throttle.retry_after(["user:bot0"]) is None
    assert throttle.retry_after(["user:bot9"]) == 60
    clock.now += 61
    assert throttle.retry_after(["user:bot8", "user:bot9"]) is None  # expired while kept
    for i in range(4):
        throttle.failed([f"user:later{i}"])
    assert throttle.retry_after(["user:later3"]) is None  # one failure of two
    throttle.failed(["user:later3"])
    assert throttle.retry_after(["user:later3"]) == 60


# -- under the hood ----------------------------------------------------------------


def test_session_page_shows_the_key_hash_never_the_key(shop: TestClient) -> None:
    add(shop, 1)
    key = session_cookie(shop)
    assert key is not None
    page = shop.get("/session").text
    assert hash_key(key) in page
    assert key not in page
    assert "(in 14 days)" in page
    assert '"1": 1' in html.unescape(page)  # the cart, as stored


def test_every_action_flashes(shop: TestClient) -> None:
    assert messages_on(shop.get(add(shop, 1).headers["location"]).text)
    assert messages_on(shop.get(post(shop, "/theme", theme="dark").headers["location"]).text)
    assert messages_on(shop.get(sign_in(shop).headers["location"]).text)


def test_pages_are_sent_with_security_headers(shop: TestClient) -> None:
    response = shop.get("/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_static_files_are_served(shop: TestClient) -> None:
    assert shop.get("/static/style.css").headers["content-type"].startswith("text/css")


# -- the command -------------------------------------------------------------------


def test_demo_command_has_host_port_and_store_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--host" in out
    assert "--port" in out
    assert "--store" in out


def test_demo_command_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "sessionary.demo.app")
    for name in [m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    assert main(["demo"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "pip install 'sessionary[demo]'" in err


def test_demo_command_rejects_a_bad_store_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--store", "nosuch://x"]) == 1
    assert capsys.readouterr().err.startswith("sessionary demo:")
