"""The cookie store never answers 500 for size: a session over one cookie is
split over ``name``, ``name.1``, ... up to ``max_cookies``; beyond that the
app is refused at assignment, where it can catch it."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from flask import Flask
from flask import request as flask_request
from flask import session as flask_session

from sessionary import (
    Session,
    SessionConfig,
    SessionMiddleware,
    SessionTooLarge,
    WSGISessionMiddleware,
)
from sessionary.cookies import MAX_COOKIE_BYTES, parse_cookie
from sessionary.integrations.flask import init_app
from sessionary.stores import from_url
from sessionary.stores.cookie import CookieStore, CookieTooLarge

from .conftest import SECRET, FakeClock

KINDS = ["asgi", "wsgi", "flask"]


def _act(session: Any, path: str, query: dict[str, str]) -> tuple[int, Any]:
    """The app: ``/set`` (JSON body of values), ``/get``, ``/flush``; size errors are a 413."""
    if path == "/set":
        try:
            for name, value in json.loads(query["values"]).items():
                session[name] = value
        except SessionTooLarge as exc:
            return 413, {"refused": exc.size}
        return 200, {"ok": True}
    if path == "/get":
        return 200, dict(session.items())
    if path == "/flush":
        session.clear() if hasattr(session, "permanent") else session.flush()
        return 200, {"ok": True}
    return 404, None


def _asgi(config: SessionConfig) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, payload = _act(scope["session"], scope["path"], dict(parse_qsl(body.decode())))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(payload).encode()})

    return SessionMiddleware(app, config)


def _wsgi(config: SessionConfig) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode()
        session = environ["sessionary.session"]
        status, payload = _act(session, environ["PATH_INFO"], dict(parse_qsl(body)))
        start_response(f"{status} X", [("content-type", "application/json")])
        return [json.dumps(payload).encode()]

    return WSGISessionMiddleware(app, config)


def _flask(config: SessionConfig) -> Any:
    app = Flask(__name__)
    app.secret_key = SECRET
    init_app(app, config)

    @app.route("/<name>", methods=["GET", "POST"])
    def view(name: str) -> Any:
        status, payload = _act(flask_session, f"/{name}", dict(flask_request.form))
        return app.response_class(json.dumps(payload), status=status)

    return app.wsgi_app


class Browser:
    """A client that keeps cookies as a browser does, so deletions are seen."""

    def __init__(self, kind: str, config: SessionConfig) -> None:
        self.kind = kind
        self.app = {"asgi": _asgi, "wsgi": _wsgi, "flask": _flask}[kind](config)
        self.name = "session" if kind == "flask" else "sessionid"  # Flask's own default
        self.jar: dict[str, str] = {}
        self.last: httpx.Response | None = None

    async def post(self, path: str, **values: Any) -> httpx.Response:
        data = {"values": json.dumps(values)} if values else None
        # Bytes, as a browser's header is: latin-1 lets a test send what ASCII cannot.
        cookie = "; ".join(f"{k}={v}" for k, v in self.jar.items()).encode("latin-1")
        headers = {b"cookie": cookie}
        if self.kind == "asgi":
            transport: Any = httpx.ASGITransport(self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                response = await c.post(path, data=data, headers=headers)
        else:
            with httpx.Client(transport=httpx.WSGITransport(self.app), base_url="http://t") as c:
                response = c.post(path, data=data, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            pair = header.split(";", 1)[0]
            name, _, value = pair.partition("=")
            assert len(pair) <= MAX_COOKIE_BYTES, f"{name} is {len(pair)} bytes"
            if "max-age=0" in header.lower():
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        self.last = response
        return response

    async def data(self) -> Any:
        return (await self.post("/get")).json()


def store_config(clock: FakeClock, url: str = "cookie://", **options: Any) -> SessionConfig:
    store = from_url(url)
    store.clock = clock
    return SessionConfig(store=store, secret_key=SECRET, **options)


def noise(size: int, seed: int = 0) -> str:
    """Printable ASCII no compressor can shrink much, quotes and backslashes included."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.printable[:95]) for _ in range(size))


@pytest.mark.parametrize("kind", KINDS)
async def test_a_session_over_4_kib_is_split_over_several_cookies_and_round_trips(
    kind: str, clock: FakeClock
) -> None:
    browser = Browser(kind, store_config(clock))
    text = noise(9000)
    assert (await browser.post("/set", text=text)).status_code == 200
    name = browser.name
    assert sorted(browser.jar) == [name, f"{name}.1", f"{name}.2"]
    assert await browser.data() == {"text": text}


@pytest.mark.parametrize("kind", KINDS)
async def test_chunks_no_longer_needed_are_deleted(kind: str, clock: FakeClock) -> None:
    browser = Browser(kind, store_config(clock))
    await browser.post("/set", text=noise(9000))
    assert len(browser.jar) == 3
    await browser.post("/set", text="short now")
    assert list(browser.jar) == [browser.name]
    assert await browser.data() == {"text": "short now"}


@pytest.mark.parametrize("kind", KINDS)
async def test_flush_deletes_every_chunk(kind: str, clock: FakeClock) -> None:
    browser = Browser(kind, store_config(clock))
    await browser.post("/set", text=noise(9000))
    await browser.post("/flush")
    assert browser.jar == {}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda jar, n: jar.pop(f"{n}.1"), id="missing-chunk"),
        pytest.param(lambda jar, n: jar.update({f"{n}.2": jar[f"{n}.2"][:-9]}), id="cut"),
        pytest.param(lambda jar, n: jar.update({f"{n}.1": jar[f"{n}.1"][::-1]}), id="tampered"),
        pytest.param(lambda jar, n: jar.update({n: "x~" + jar[n]}), id="bad-count"),
        pytest.param(lambda jar, n: jar.update({n: "2~AAAA"}), id="wrong-count"),
        pytest.param(lambda jar, n: jar.pop(n), id="only-chunks"),
    ],
)
async def test_a_missing_or_tampered_chunk_is_a_fresh_session_never_an_error(
    kind: str, clock: FakeClock, damage: Callable[[dict[str, str], str], object]
) -> None:
    browser = Browser(kind, store_config(clock))
    await browser.post("/set", text=noise(9000))
    damage(browser.jar, browser.name)
    response = await browser.post("/get")
    assert response.status_code == 200
    assert response.json() == {}
    assert browser.jar == {}  # every cookie of the broken session is deleted


@pytest.mark.parametrize("kind", KINDS)
async def test_beyond_the_cap_the_assignment_raises_what_the_app_can_catch(
    kind: str, clock: FakeClock
) -> None:
    browser = Browser(kind, store_config(clock, "cookie://?max_cookies=2"))
    await browser.post("/set", kept="yes")
    response = await browser.post("/set", text=noise(9000))
    assert response.status_code == 413  # the app caught SessionTooLarge and answered
    assert await browser.data() == {"kept": "yes"}


@pytest.mark.parametrize("mode", ["encrypted", "signed"])
@pytest.mark.parametrize("max_cookies", [1, 2, 4, 8])
@pytest.mark.parametrize(
    "shape",
    ["noise", "escapes", "unicode", "astral", "many-keys", "compressible"],
)
def test_the_worst_case_at_the_limit_round_trips(
    mode: str, max_cookies: int, shape: str, clock: FakeClock
) -> None:
    config = store_config(clock, f"cookie://?mode={mode}&max_cookies={max_cookies}")
    store = config.store
    assert isinstance(store, CookieStore)
    limit = store.max_data_bytes
    assert limit is not None
    assert limit > 1000
    session = Session(config)
    fill_to_the_limit(session, shape, limit)
    assert limit - 64 < session.encoded_size() <= limit
    session.save_sync()
    assert session.carried is not None
    names = [name for name, _ in split(config.cookie_name, session.carried)]
    assert len(names) <= max_cookies
    record = store.load_sync(session.carried)
    assert record is not None
    assert {k: json.loads(v) for k, v in record.data.items()} == dict(session.items())


def split(name: str, value: str) -> list[tuple[str, str]]:
    from sessionary.cookies import split_into_chunks

    return split_into_chunks(name, value)


def fill_to_the_limit(session: Session, shape: str, limit: int) -> None:
    rng = random.Random(shape)
    if shape == "many-keys":
        index = 0
        while session.encoded_size() < limit - 40:
            try:
                session[f"k{index}"] = rng.randrange(10**9)
            except SessionTooLarge:
                return
            index += 1
        return
    alphabet = {
        "noise": string.printable[:95],
        "escapes": '"\\',
        "unicode": "".join(chr(c) for c in range(0x400, 0x4FF)),
        "astral": "".join(chr(c) for c in range(0x1F600, 0x1F64F)),
        "compressible": "a",
    }[shape]
    session["v"] = ""
    text = ""
    while True:
        char = rng.choice(alphabet)
        try:
            session["v"] = text + char
        except SessionTooLarge:
            return  # refused at assignment: the session still holds ``text``
        text += char


def test_a_single_value_beyond_the_cap_is_refused_at_assignment(clock: FakeClock) -> None:
    session = Session(store_config(clock, "cookie://?max_cookies=1"))
    with pytest.raises(SessionTooLarge):
        session["v"] = noise(5000)
    assert "v" not in session


def test_the_data_limit_grows_with_the_cap() -> None:
    limits = [CookieStore(max_cookies=n).max_data_bytes or 0 for n in (1, 2, 4, 8)]
    assert limits == sorted(limits)
    assert limits[0] > 2000  # one cookie still holds a modest session
    assert CookieStore().max_data_bytes == limits[2]  # the default cap is 4


def test_a_bad_max_cookies_fails_at_start_up() -> None:
    from sessionary import ConfigurationError

    for url in ("cookie://?max_cookies=0", "cookie://?max_cookies=99", "cookie://?max_cookies=x"):
        with pytest.raises(ConfigurationError, match="max_cookies"):
            SessionConfig(store=url, secret_key=SECRET)


def test_encoding_past_the_cap_is_a_clear_error(clock: FakeClock) -> None:
    # What assignment prevents, the codec still refuses by itself, naming the fix.
    config = store_config(clock, "cookie://?max_cookies=1")
    store = config.store
    assert isinstance(store, CookieStore)
    session = Session(config)
    session["v"] = "x"
    session.save_sync()
    assert session.carried is not None
    record = store.load_sync(session.carried)
    assert record is not None
    record.data["v"] = json.dumps(noise(6000))
    with pytest.raises(CookieTooLarge, match="raise max_cookies"):
        store.encode("k" * 32, record)


async def test_the_header_transport_carries_one_long_value(clock: FakeClock) -> None:
    config = store_config(clock, transport="header")
    app = _asgi(config)
    text = noise(9000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        first = await c.post("/set", data={"values": json.dumps({"text": text})})
        token = first.headers[config.header_name]
        assert len(token) > MAX_COOKIE_BYTES
        assert "set-cookie" not in first.headers
        again = await c.post("/get", headers={config.header_name: token})
    assert again.json() == {"text": text}


def test_chunked_cookies_parse_back_from_one_header() -> None:
    from sessionary.cookies import join_chunks, split_into_chunks

    value = "".join(random.Random(1).choice(string.ascii_letters + "-_.") for _ in range(10000))
    pairs = split_into_chunks("sid", value)
    assert [name for name, _ in pairs] == ["sid", "sid.1", "sid.2"]
    header = "; ".join(f"{n}={v}" for n, v in reversed(pairs))
    joined, present = join_chunks(parse_cookie(header), "sid")
    assert joined == value
    assert sorted(present) == ["sid.1", "sid.2"]


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_a_value_grown_in_place_past_the_limit_keeps_the_previous_session_not_a_500(
    kind: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from .apps import asgi_app, wsgi_app

    config = store_config(clock, "cookie://?max_cookies=1")
    app: Any = (
        SessionMiddleware(asgi_app, config)
        if kind == "asgi"
        else WSGISessionMiddleware(wsgi_app, config)
    )

    async def get(path: str, cookie: str | None) -> httpx.Response:
        headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
        if kind == "asgi":
            transport: Any = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                return await c.get(path, headers=headers)
        with httpx.Client(transport=httpx.WSGITransport(app), base_url="http://t") as c:
            return c.get(path, headers=headers)

    first = await get("/append?item=" + "a" * 1500, None)
    cookie = first.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    # The cart is appended to in place: no assignment sees it pass the limit.
    grown = await get("/append?item=" + "b" * 1500, cookie)
    assert grown.status_code == 200
    assert "set-cookie" not in grown.headers  # the browser keeps its last good cookie
    assert "session not saved" in caplog.text
    assert (await get("/all", cookie)).json() == {"cart": ["a" * 1500]}


def test_splitting_gives_up_past_64_cookies_instead_of_looping() -> None:
    from sessionary.cookies import chunks_needed

    assert chunks_needed("sid", 10_000) == 3
    with pytest.raises(ValueError, match="over 64 cookies"):
        chunks_needed("n" * 4095, 10)  # no room for any value beside such a name


@pytest.mark.parametrize("kind", KINDS)
async def test_a_session_the_store_refuses_at_save_keeps_the_previous_one_not_a_500(
    kind: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Two-character names outside the BMP count 2 bytes each but seal as 24,
    # and random ones do not compress: past what max_data_bytes foresees, so
    # only the save can refuse them.
    browser = Browser(kind, store_config(clock, "cookie://?max_cookies=1"))
    await browser.post("/set", kept="yes")
    rng = random.Random(1)
    astral = range(0x10000, 0x10FFFF)
    names = {"".join(map(chr, rng.sample(astral, 2))): 0 for _ in range(660)}
    response = await browser.post("/set", **names)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert "session not saved" in caplog.text
    assert await browser.data() == {"kept": "yes"}


def test_chunk_counts_and_names_are_ascii_numbers_only() -> None:
    from sessionary.cookies import join_chunks

    assert join_chunks({"sid": "\u00b2~abc"}, "sid") == ("", [])
    assert join_chunks({"sid": "v", "sid.\u00b3": "w", "sid.1": "x"}, "sid") == ("v", ["sid.1"])


async def test_a_count_in_non_ascii_digits_is_a_fresh_session_never_an_error(
    clock: FakeClock,
) -> None:
    # ASGI only: httpx's WSGI transport cannot send a non-ASCII header; the
    # parsing it exercises is the same for every edge.
    browser = Browser("asgi", store_config(clock))
    await browser.post("/set", text=noise(9000))
    browser.jar["sessionid"] = "\u00b2~" + browser.jar["sessionid"]
    response = await browser.post("/get")
    assert response.status_code == 200
    assert response.json() == {}
