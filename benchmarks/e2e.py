"""End to end: each session middleware called in-process with a request that carries the cookie.

An ASGI app is awaited with a scope, a ``receive`` and a ``send``; a WSGI
app is called with an environ and a ``start_response``; no server, no
socket. Each framework also runs a floor case (the same app, no session
middleware, a view that does not touch a session), and the runner reports
the difference: the per-request price of turning sessions on.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from . import ours, peers
from .common import SECRET, TTL, Case, flip, require

_RECEIVE_MESSAGE = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> dict[str, Any]:
    return _RECEIVE_MESSAGE


async def call_asgi(
    app: Any, path: str, cookie: str
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """One GET through an ASGI app; returns status, body and response headers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
        "state": {},
    }
    out: dict[str, Any] = {"body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = message.get("headers", [])
        else:
            out["body"] += message.get("body", b"")

    await app(scope, _receive, send)
    return out["status"], out["body"], out["headers"]


def call_wsgi(app: Any, path: str, cookie: str) -> tuple[int, bytes, list[tuple[str, str]]]:
    """One GET through a WSGI app; returns status, body and response headers."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "bench",
        "HTTP_USER_AGENT": "bench",
        "HTTP_COOKIE": cookie,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    out: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        out["status"] = int(status[:3])
        out["headers"] = headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return out["status"], body, out["headers"]


def new_cookie(headers: list[tuple[Any, Any]], name: str) -> str | None:
    """The value a response's ``Set-Cookie`` gives cookie ``name``, if any."""
    prefix = name + "="
    for header, value in headers:
        if isinstance(header, bytes):
            header, value = header.decode("latin-1"), value.decode("latin-1")
        value = value.lstrip()  # Django's WSGI handler writes " sessionid=..."
        if header.lower() == "set-cookie" and value.startswith(prefix):
            cookie: str = value[len(prefix) :].split(";", 1)[0].strip('"')
            return cookie
    return None


def _user_id(status: int, body: bytes) -> int:
    if status != 200:
        raise AssertionError(f"the app answered {status}: {body[:200]!r}")
    return int(body)


# -- apps ----------------------------------------------------------------------


def starlette_app(uses_session: bool, middleware: list[Any]) -> Any:
    require("starlette")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def visit(request: Request) -> PlainTextResponse:
        session = request.session
        user_id = session["user_id"]
        session["theme"] = flip(session["theme"])
        return PlainTextResponse(str(user_id))

    async def floor(request: Request) -> PlainTextResponse:
        return PlainTextResponse("0")

    return Starlette(routes=[Route("/", visit if uses_session else floor)], middleware=middleware)


def flask_app(view: str) -> Any:
    """A Flask app whose one view reads the session from ``view``'s place."""
    require("flask")
    from flask import Flask, request, session

    app = Flask(__name__)

    def visit() -> str:
        current: Any = request.environ["sessionary.session"] if view == "sessionary" else session
        user_id = current["user_id"]
        current["theme"] = flip(current["theme"])
        return str(user_id)

    def floor() -> str:
        return "0"

    app.add_url_rule("/", "view", floor if view == "floor" else visit)
    return app


# -- cases ---------------------------------------------------------------------


class AsgiE2E(Case):
    """An ASGI app driven in-process; ``inner`` is the store-level case that seeds and peeks."""

    mode = "async"
    cookie_name = "session"
    inner: Any = None
    app: Any = None

    async def setup(self, count: int) -> None:
        await _maybe_await(self.inner.setup(count))

    async def cycle(self, i: int) -> Any:
        keys = self.inner.keys
        status, body, headers = await call_asgi(self.app, "/", f"{self.cookie_name}={keys[i]}")
        issued = new_cookie(headers, self.cookie_name)
        if issued:
            keys[i] = issued
        return _user_id(status, body)

    async def peek(self, i: int) -> Any:
        return await _maybe_await(self.inner.peek(i))

    async def teardown(self) -> None:
        await _maybe_await(self.inner.teardown())


class WsgiE2E(Case):
    """A WSGI app driven in-process; ``inner`` is the store-level case that seeds and peeks."""

    cookie_name = "session"
    path = "/"
    inner: Any = None
    app: Any = None

    def setup(self, count: int) -> None:
        self.inner.setup(count)

    def cycle(self, i: int) -> Any:
        keys = self.inner.keys
        status, body, headers = call_wsgi(self.app, self.path, f"{self.cookie_name}={keys[i]}")
        issued = new_cookie(headers, self.cookie_name)
        if issued:
            keys[i] = issued
        return _user_id(status, body)

    def peek(self, i: int) -> Any:
        return self.inner.peek(i)

    def teardown(self) -> None:
        self.inner.teardown()


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


class _Keys:
    """Stands in for a store-level case under a floor: cookies that name nothing."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def setup(self, count: int) -> None:
        self.keys = [f"{i:032d}" for i in range(count)]

    def peek(self, i: int) -> Any:
        return None

    def teardown(self) -> None:
        return None


class StarletteFloor(AsgiE2E):
    """Starlette with no session middleware; the view returns at once."""

    verifies = False

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.inner = _Keys()
        self.app = starlette_app(False, [])


class FlaskFloor(WsgiE2E):
    """Flask with no session extension and no secret; the view returns at once."""

    verifies = False

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.inner = _Keys()
        self.app = flask_app("floor")


class DjangoFloor(WsgiE2E):
    """Django's WSGI handler with no middleware; the view returns at once."""

    verifies = False
    path = "/floor"

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        peers.configure_django("signed_cookies", ns, tmp, middleware=False)
        from django.core.handlers.wsgi import WSGIHandler

        self.inner = _Keys()
        self.app = WSGIHandler()


class OursAsgi(AsgiE2E):
    """sessionary's ``SessionMiddleware`` on Starlette."""

    cookie_name = "sessionid"
    store_name = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        from sessionary import SessionMiddleware

        self.inner = ours.variants(self.store_name)["async"](ns, tmp)
        self.app = starlette_app(True, [])
        self.app = SessionMiddleware(self.app, self.inner.config)


class OursWsgi(WsgiE2E):
    """sessionary's ``WSGISessionMiddleware`` on Flask."""

    cookie_name = "sessionid"
    store_name = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        from sessionary import WSGISessionMiddleware

        self.inner = ours.variants(self.store_name)["sync"](ns, tmp)
        app = flask_app("sessionary")
        app.wsgi_app = WSGISessionMiddleware(app.wsgi_app, self.inner.config)
        self.app = app


class DjangoE2E(WsgiE2E):
    """Django's WSGI handler with ``SessionMiddleware`` and one engine."""

    cookie_name = "sessionid"
    engine = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.inner = peers.django_case(self.engine)(ns, tmp)
        from django.core.handlers.wsgi import WSGIHandler

        self.app = WSGIHandler()


class FlaskSessionE2E(WsgiE2E):
    """Flask with Flask-Session over one store."""

    kind = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        self.inner = peers.flask_session_case(self.kind)(ns, tmp)
        self.app = self.inner.app
        self.app.add_url_rule("/", "view", flask_app_view)


def flask_app_view() -> str:
    from flask import session

    user_id = session["user_id"]
    session["theme"] = flip(session["theme"])
    return str(user_id)


class StarsessionsE2E(AsgiE2E):
    """Starlette with starsessions' ``SessionMiddleware`` and autoload, over one store."""

    kind = ""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        from starlette.middleware import Middleware
        from starsessions import SessionAutoloadMiddleware, SessionMiddleware

        self.inner = peers.starsessions_case(self.kind)(ns, tmp)
        self.app = starlette_app(
            True,
            [
                Middleware(
                    SessionMiddleware,
                    store=self.inner.store,
                    lifetime=TTL,
                    rolling=True,
                    cookie_https_only=False,
                ),
                Middleware(SessionAutoloadMiddleware),
            ],
        )


class StarletteE2E(AsgiE2E):
    """Starlette with its own signed-cookie ``SessionMiddleware``."""

    def __init__(self, ns: str, tmp: Path) -> None:
        super().__init__(ns, tmp)
        from starlette.middleware import Middleware
        from starlette.middleware.sessions import SessionMiddleware

        self.inner = _TokenKeys(peers.StarletteCookie(ns, tmp))
        self.app = starlette_app(True, [Middleware(SessionMiddleware, secret_key=SECRET)])


class _TokenKeys:
    """Gives the Starlette cookie case the ``keys`` list the e2e driver updates."""

    def __init__(self, case: peers.StarletteCookie) -> None:
        self.case = case

    def setup(self, count: int) -> None:
        self.case.setup(count)
        self.keys = self.case.tokens

    def peek(self, i: int) -> Any:
        return self.case.peek(i)

    def teardown(self) -> None:
        return None


def _sub(base: type[Case], **attrs: Any) -> type[Case]:
    suffix = "_".join(str(v) for v in attrs.values())
    return type(f"{base.__name__}_{suffix}", (base,), attrs)


def ours_asgi(store: str) -> type[Case]:
    return _sub(OursAsgi, store_name=store)


def ours_wsgi(store: str) -> type[Case]:
    return _sub(OursWsgi, store_name=store)


def django_e2e(engine: str) -> type[Case]:
    return _sub(DjangoE2E, engine=engine)


def flask_session_e2e(kind: str) -> type[Case]:
    return _sub(FlaskSessionE2E, kind=kind)


def starsessions_e2e(kind: str) -> type[Case]:
    return _sub(StarsessionsE2E, kind=kind)
