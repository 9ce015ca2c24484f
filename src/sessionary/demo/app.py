"""The demo shop: every part of sessionary in one small Starlette app.

Sign in and out (argon2 passwords, key cycled on login), CSRF-checked forms,
a dashboard behind sign-in, a catalogue whose filters live in the URL, a cart
and a theme kept in the session, a three-step sign-up wizard, flash messages,
the user's signed-in devices, and a page that shows the session itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .. import auth, messages
from .._asgi import SessionMiddleware
from .._config import DEFAULT_STORE_URL, SessionConfig
from .._session import Session
from ..stores import from_url
from ..stores.base import Store
from ..templating import session_context
from . import catalogue

__all__ = ["DEMO_USERS", "create_app", "serve"]

HERE = Path(__file__).parent
# Printed on start and shown on the sign-in page: these are demo accounts.
DEMO_USERS = {"alice": ("Alice Liddell", "wonderland"), "bob": ("Bob Builder", "canwefixit")}
THEMES = ("light", "dark")
CSRF_FIELD = "csrf_token"
_CSRF = "csrf"
_CART = "cart"
_THEME = "theme"
_SIGNUP = "signup"
_USERNAME_RE = re.compile(r"[a-z0-9_]{3,20}\Z")
_MIN_PASSWORD = 8

Handler = Callable[[Request], Awaitable[Response]]
FormHandler = Callable[[Request, FormData], Awaitable[Response]]


# -- accounts ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    name: str
    password_hash: str
    favourite_genre: str | None = None


@functools.cache
def _seed_hashes() -> dict[str, str]:
    # Hashed once per process: argon2 is slow on purpose.
    hasher = PasswordHasher()
    return {name: hasher.hash(password) for name, (_, password) in DEMO_USERS.items()}


class Accounts:
    """The shop's users, in memory: the demo users plus whoever signs up."""

    def __init__(self) -> None:
        self.hasher = PasswordHasher()
        self._by_id: dict[str, User] = {}
        self._by_name: dict[str, User] = {}
        seeds = _seed_hashes()
        for username, (name, _) in DEMO_USERS.items():
            self.add(username, name, seeds[username])
        # Unknown names are checked against this, so they take as long as known ones.
        self._decoy = seeds[next(iter(DEMO_USERS))]

    def add(self, username: str, name: str, password_hash: str, genre: str | None = None) -> User:
        user = User(str(len(self._by_id) + 1), username, name, password_hash, genre)
        self._by_id[user.id] = user
        self._by_name[username] = user
        return user

    def get(self, user_id: str) -> User | None:
        return self._by_id.get(user_id)

    def taken(self, username: str) -> bool:
        return username in self._by_name

    async def hash(self, password: str) -> str:
        return await run_in_threadpool(self.hasher.hash, password)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The user whose name and password these are, or ``None``."""
        user = self._by_name.get(username.strip().lower())
        stored = user.password_hash if user is not None else self._decoy
        try:
            # argon2 takes tens of milliseconds: keep it off the event loop.
            await run_in_threadpool(self.hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


# -- request helpers -----------------------------------------------------------


def session_of(request: Request) -> Session:
    session: Session = request.scope["session"]
    return session


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def current_user(request: Request) -> User | None:
    """The signed-in user, checked against their current password hash."""
    session = session_of(request)
    user_id = session.user_id
    if user_id is None:
        return None
    user = accounts_of(request).get(user_id)
    if user is None:  # an account from an earlier run of the demo
        auth.logout(session)
        return None
    if auth.get_user_id(session, auth_hash=user.password_hash) is None:
        return None
    return user


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    session = session_of(request)
    token = session.get(_CSRF)
    if not isinstance(token, str):
        token = session[_CSRF] = secrets.token_urlsafe(32)
    return token


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def here(request: Request) -> str:
    """This request's path and query, to come back to after a form."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def cart_of(session: Session) -> dict[str, int]:
    cart = session.get(_CART)
    return cart if isinstance(cart, dict) else {}


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def shop_context(request: Request) -> dict[str, Any]:
    """What every page shows besides ``session`` and ``messages``: user, cart count, theme."""
    session = session_of(request)
    theme = session.get(_THEME)
    return {
        "user": current_user(request),
        "cart_count": sum(cart_of(session).values()),
        "theme": theme if theme in THEMES else "light",
        "csrf_token": functools.partial(csrf_token, request),
        "here": here(request),
    }


def login_required(handler: Handler) -> Handler:
    """Send visitors who are not signed in to sign in, and back here afterwards."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        if current_user(request) is None:
            messages.info(request, "Please sign in to see that page.")
            return redirect("/login?" + urlencode({"next": here(request)}))
        return await handler(request)

    return guarded


def form_route(path: str, handler: FormHandler, methods: tuple[str, ...] = ("POST",)) -> Route:
    """A route whose POSTs are refused unless they carry this session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            return await handler(request, FormData())
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        expected = session_of(request).get(_CSRF)
        if not (
            isinstance(sent, str)
            and isinstance(expected, str)
            and secrets.compare_digest(sent.encode(), expected.encode())
        ):
            raise HTTPException(
                403, "This form expired or did not come from this site. Go back, reload, retry."
            )
        return await handler(request, form)

    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


def text(form: FormData, name: str, *, strip: bool = True) -> str:
    """A form field's text ("" when it is missing or a file)."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


# -- pages ---------------------------------------------------------------------


async def home(request: Request) -> Response:
    return page(request, "home.html", users=DEMO_USERS, featured=catalogue.RECORDS[:4])


async def login(request: Request, form: FormData) -> Response:
    next_url = safe_next(text(form, "next") or request.query_params.get("next"))
    if request.method == "GET":
        return page(request, "login.html", next=next_url, users=DEMO_USERS, username="")
    username = text(form, "username")
    password = text(form, "password", strip=False)
    user = None
    if username and password:
        user = await accounts_of(request).authenticate(username, password)
    if user is None:
        messages.error(request, "That username and password do not match. Try again.")
        return page(request, "login.html", 400, next=next_url, users=DEMO_USERS, username=username)
    sign_in(request, user)
    messages.success(request, f"Welcome back, {user.name}. You are signed in.")
    return redirect(next_url)


def sign_in(request: Request, user: User) -> None:
    session = session_of(request)
    # A new key (login cycles it) and a new CSRF token: nothing from before sign-in carries over.
    auth.login(session, user.id, auth_hash=user.password_hash)
    session[_CSRF] = secrets.token_urlsafe(32)


async def logout(request: Request, form: FormData) -> Response:
    auth.logout(session_of(request))
    # The flush dropped everything; the message starts a fresh session for the next page.
    messages.info(request, "You are signed out. See you soon.")
    return redirect("/")


@login_required
async def dashboard(request: Request) -> Response:
    devices = await auth.sessions_for(session_of(request))
    return page(request, "dashboard.html", device_count=len(devices))


async def records(request: Request) -> Response:
    listing = catalogue.browse(request.query_params)
    return page(request, "records.html", listing=listing, genres=catalogue.GENRES)


async def cart(request: Request) -> Response:
    lines = []
    total = 0
    for record_id, quantity in cart_of(session_of(request)).items():
        record = catalogue.find(record_id)
        if record is not None:
            lines.append((record, quantity))
            total += record.price_cents * quantity
    return page(request, "cart.html", lines=lines, total=total)


async def cart_add(request: Request, form: FormData) -> Response:
    back = safe_next(text(form, "next"), "/records")
    record = catalogue.find(text(form, "record"))
    if record is None:
        messages.warning(request, "That record is no longer in the shop.")
        return redirect(back)
    session = session_of(request)
    # Mutated in place: sessionary notices the change without `session.modified = True`.
    items = session.setdefault(_CART, {})
    items[str(record.id)] = items.get(str(record.id), 0) + 1
    messages.success(request, f"Added “{record.title}” to your cart.")
    return redirect(back)


async def cart_remove(request: Request, form: FormData) -> Response:
    session = session_of(request)
    record = catalogue.find(text(form, "record"))
    items = cart_of(session)
    if record is not None and str(record.id) in items:
        del items[str(record.id)]
        session[_CART] = items
        messages.info(request, f"Removed “{record.title}” from your cart.")
    return redirect("/cart")


async def checkout(request: Request, form: FormData) -> Response:
    session = session_of(request)
    count = sum(cart_of(session).values())
    if not count:
        messages.warning(request, "Your cart is empty.")
        return redirect("/cart")
    session.pop(_CART, None)
    plural = "record is" if count == 1 else "records are"
    messages.success(request, f"Thank you! Your {count} {plural} on the way (not really).")
    return redirect("/records")


async def theme(request: Request, form: FormData) -> Response:
    chosen = text(form, "theme")
    if chosen in THEMES:
        session_of(request)[_THEME] = chosen
        messages.success(request, f"Switched to the {chosen} theme.")
    return redirect(safe_next(text(form, "next"), "/"))


@login_required
async def sessions_page(request: Request) -> Response:
    session = session_of(request)
    devices = await auth.sessions_for(session)
    return page(
        request, "sessions.html", devices=devices, current=session.key_hash, describe=describe_ua
    )


async def revoke_others(request: Request, form: FormData) -> Response:
    if current_user(request) is None:
        return redirect("/login?next=/account/sessions")
    ended = await auth.revoke_other_sessions(session_of(request))
    if ended:
        plural = "session" if ended == 1 else "sessions"
        messages.success(request, f"Signed out {ended} other {plural}.")
    else:
        messages.info(request, "There were no other sessions to sign out.")
    return redirect("/account/sessions")


async def under_the_hood(request: Request) -> Response:
    session = session_of(request)
    data = [(name, json.dumps(value, indent=2, default=str)) for name, value in session.items()]
    return page(request, "session.html", data=data, store=repr(request.app.state.store))


# -- sign-up wizard ------------------------------------------------------------

STEPS = ("Account", "Profile", "Confirm")


def _answers(session: Session) -> dict[str, Any]:
    answers = session.get(_SIGNUP)
    return answers if isinstance(answers, dict) else {}


def _first_open_step(answers: dict[str, Any]) -> int:
    if not answers.get("password_hash"):
        return 1
    if not answers.get("name"):
        return 2
    return 3


async def signup_start(request: Request) -> Response:
    return redirect(f"/signup/{_first_open_step(_answers(session_of(request)))}")


async def signup(request: Request, form: FormData) -> Response:
    step = int(request.path_params["step"])
    if step not in (1, 2, 3):
        raise HTTPException(404)
    session = session_of(request)
    answers = _answers(session)
    if step > _first_open_step(answers):
        return redirect(f"/signup/{_first_open_step(answers)}")
    if request.method == "GET":
        return _signup_page(request, step, answers, {})

    going_back = text(form, "action") == "back"
    fields = {
        1: ("username",),
        2: ("name", "genre"),
        3: (),
    }[step]
    answers = {**answers, **{name: text(form, name) for name in fields}}
    errors: dict[str, str] = {}
    if step == 1:
        errors = await _account_step(request, form, answers, going_back)
    elif step == 2 and not going_back:
        if not answers["name"]:
            errors["name"] = "Tell us what to call you."
        if answers["genre"] and answers["genre"] not in catalogue.GENRES:
            errors["genre"] = "Pick one of the genres listed."
    elif step == 3 and not going_back:
        if form.get("terms") != "yes":
            errors["terms"] = "Please accept the (imaginary) terms to continue."
        elif accounts_of(request).taken(answers["username"]):
            errors["terms"] = "Someone took that username meanwhile: go back and pick another."
    session[_SIGNUP] = answers
    if going_back:
        return redirect(f"/signup/{max(1, step - 1)}")
    if errors:
        return _signup_page(request, step, answers, errors, status_code=400)
    if step < 3:
        messages.info(request, f"Step {step} saved: you can come back to it any time.")
        return redirect(f"/signup/{step + 1}")
    genre = answers.get("genre")  # "Back" saves without checking: check again here
    user = accounts_of(request).add(
        answers["username"],
        answers["name"],
        answers["password_hash"],
        genre if genre in catalogue.GENRES else None,
    )
    session.pop(_SIGNUP, None)
    sign_in(request, user)
    messages.success(request, f"Welcome to the shop, {user.name}! Your account is ready.")
    return redirect("/dashboard")


async def _account_step(
    request: Request, form: FormData, answers: dict[str, Any], going_back: bool
) -> dict[str, str]:
    errors: dict[str, str] = {}
    username = answers["username"] = answers["username"].lower()
    password = text(form, "password", strip=False)
    if not _USERNAME_RE.match(username):
        errors["username"] = "Use 3 to 20 lowercase letters, digits or underscores."
    elif accounts_of(request).taken(username):
        errors["username"] = "That username is taken."
    if password:
        if len(password) < _MIN_PASSWORD:
            errors["password"] = f"Use at least {_MIN_PASSWORD} characters."
        else:
            # Only the argon2 hash is kept in the session, never the password.
            answers["password_hash"] = await accounts_of(request).hash(password)
    elif not answers.get("password_hash"):
        errors["password"] = "Choose a password."  # noqa: S105 (a message, not a password)
    return errors


def _signup_page(
    request: Request,
    step: int,
    answers: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "signup.html",
        status_code,
        step=step,
        steps=STEPS,
        answers=answers,
        errors=errors,
        genres=catalogue.GENRES,
    )


# -- wiring --------------------------------------------------------------------


def describe_ua(user_agent: str | None) -> str:
    """A short, human name for a browser's user agent."""
    if not user_agent:
        return "Unknown device"
    browsers = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"))
    browser = next((name for token, name in browsers if token in user_agent), None)
    if browser is None:
        browser = "Safari" if "Safari/" in user_agent else user_agent.split("/")[0][:40]
    systems = (
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    )
    system = next((name for token, name in systems if token in user_agent), None)
    return f"{browser} on {system}" if system else browser


def _when(value: dt.datetime | float | None) -> str:
    if value is None:
        return "—"
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.strftime("%d %b %Y, %H:%M:%S UTC")


def _money(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


async def _error_page(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Something went wrong."
    return page(request, "error.html", status, status=status, detail=detail)


class SecurityHeaders:
    """Headers every page of a real shop sends: no framing, no sniffing, own scripts only."""

    HEADERS = (
        (
            b"content-security-policy",
            b"default-src 'self'; style-src 'self' 'unsafe-inline'; "
            b"form-action 'self'; frame-ancestors 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *self.HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(store: str | Store | None = None) -> Starlette:
    """The demo shop over ``store`` (a URL or a store; the embedded SQLite by default).

    The store's schema is created when the app starts (``sessionary migrate``).
    """
    if not isinstance(store, Store):
        store = from_url(store or DEFAULT_STORE_URL)
    config = SessionConfig(store=store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await config.store.migrate()
        yield

    templates = Jinja2Templates(
        directory=HERE / "templates", context_processors=[session_context, shop_context]
    )
    templates.env.filters["when"] = _when
    templates.env.filters["money"] = _money
    routes: list[BaseRoute] = [
        Route("/", home),
        form_route("/login", login, ("GET", "POST")),
        form_route("/logout", logout),
        Route("/dashboard", dashboard),
        Route("/records", records),
        Route("/cart", cart),
        form_route("/cart/add", cart_add),
        form_route("/cart/remove", cart_remove),
        form_route("/cart/checkout", checkout),
        form_route("/theme", theme),
        Route("/signup", signup_start),
        form_route("/signup/{step:int}", signup, ("GET", "POST")),
        Route("/account/sessions", sessions_page),
        form_route("/account/sessions/revoke-others", revoke_others),
        Route("/session", under_the_hood),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders), Middleware(SessionMiddleware, config=config)],
        exception_handlers={HTTPException: _error_page},
        lifespan=lifespan,
    )
    app.state.accounts = Accounts()
    app.state.templates = templates
    app.state.store = store
    return app


def serve(host: str, port: int, store_url: str) -> None:
    """Run the shop with uvicorn until interrupted."""
    import uvicorn

    app = create_app(store_url)
    users = ", ".join(f"{name} / {password}" for name, (_, password) in DEMO_USERS.items())
    print(f"sessionary demo: the shop is open at http://{host}:{port}")
    print(f"  store: {store_url} (schema created on start)")
    print(f"  demo users: {users}")
    uvicorn.run(app, host=host, port=port, log_level="info")
