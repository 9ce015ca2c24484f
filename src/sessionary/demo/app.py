"""The demo shop: every part of sessionary in one small Starlette app.

Sign in and out (argon2 passwords, key cycled on login), CSRF-checked forms,
a dashboard behind sign-in, a catalogue whose filters live in the URL, a cart
and a theme kept in the session, a three-step sign-up wizard, flash messages,
the user's signed-in devices, and a page that shows the session itself.

It practises what sessionary teaches: a visitor who only looks gets no
session (see :mod:`.csrf` for the forms' tokens); a session starts with the
first thing worth keeping. Signing out keeps the theme on the device, and
the cart with the account: it is back at the next sign-in, on any device,
and the next person at a shared computer does not see it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
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
from ..dbsc import DBSCConfig
from ..stores import from_url
from ..stores.base import Store
from ..templating import session_context
from . import catalogue, csrf
from .throttle import LoginThrottle

__all__ = ["DEMO_USERS", "create_app", "serve"]

HERE = Path(__file__).parent
# Printed on start and shown on the sign-in page: these are demo accounts.
DEMO_USERS = {"alice": ("Alice Liddell", "wonderland"), "bob": ("Bob Builder", "canwefixit")}
THEMES = ("light", "dark")
_CART = "cart"
_THEME = "theme"
_SIGNUP = "signup"
_USERNAME_RE = re.compile(r"[a-z0-9_]{3,20}\Z")
_MIN_PASSWORD = 8
_MAX_NAME = 60
_SIGNED_OUT = "You were signed out on this device. Sign in again to continue."

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
        self._carts: dict[str, dict[str, int]] = {}
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

    def keep_cart(self, user_id: str, cart: dict[str, int]) -> None:
        """Keep a signed-out user's cart until they sign in again."""
        self._carts[user_id] = dict(cart)

    def take_cart(self, user_id: str) -> dict[str, int]:
        return self._carts.pop(user_id, {})

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


def throttle_of(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.throttle
    return throttle


def session_ended(request: Request) -> bool:
    """Whether the browser sent a session cookie that names no live session.

    That session was signed out on another device (or expired): the
    middleware found no record, and this request started without one.
    """
    cookie_name: str = request.app.state.config.cookie_name
    return cookie_name in request.cookies and session_of(request).session_key is None


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    # Rendering asked for a CSRF token: the first form shown to this browser.
    csrf.set_cookie_if_new(request, response)
    return response


def shop_context(request: Request) -> dict[str, Any]:
    """What every page shows besides ``session`` and ``messages``: user, cart count, theme."""
    session = session_of(request)
    theme = session.get(_THEME)
    return {
        "user": current_user(request),
        "cart_count": sum(cart_of(session).values()),
        "theme": theme if theme in THEMES else "light",
        "csrf_token": functools.partial(csrf.token, request),
        "here": here(request),
    }


def login_required(handler: Handler) -> Handler:
    """Send visitors who are not signed in to sign in, and back here afterwards."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        if current_user(request) is None:
            ended = session_ended(request)
            messages.info(request, _SIGNED_OUT if ended else "Please sign in to see that page.")
            return redirect("/login?" + urlencode({"next": here(request)}))
        return await handler(request)

    return guarded


def form_route(path: str, handler: FormHandler, methods: tuple[str, ...] = ("POST",)) -> Route:
    """A route whose POSTs are refused unless they carry this visitor's CSRF token."""

    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            return await handler(request, FormData())
        form = await request.form()
        verdict = csrf.check(request, form.get(csrf.FIELD), session_ended=session_ended(request))
        if verdict is csrf.Verdict.SIGNED_OUT:
            # Not "this form expired": the visitor should know why, and sign in again.
            messages.info(request, _SIGNED_OUT)
            back = safe_next(text(form, "next"), "/")
            return redirect("/login?" + urlencode({"next": back}))
        if verdict is not csrf.Verdict.ACCEPTED:
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
    throttle = throttle_of(request)
    client = request.client.host if request.client else "unknown"
    # Per account (guessing one password) and per address (trying many accounts).
    account_key = f"user:{username.lower()}"
    keys = (account_key, f"ip:{client}")
    wait = throttle.retry_after(keys)
    if wait is not None:
        response = _login_page(
            request,
            next_url,
            username,
            429,
            f"Too many failed sign-ins for this account or from your address. "
            f"Try again in {in_words(wait)}.",
        )
        response.headers["retry-after"] = str(wait)
        return response
    user = None
    if username and password:
        user = await accounts_of(request).authenticate(username, password)
    if user is None:
        throttle.failed(keys)
        return _login_page(
            request, next_url, username, 400, "That username and password do not match. Try again."
        )
    throttle.succeeded(account_key)
    sign_in(request, user)
    messages.success(request, f"Welcome back, {user.name}. You are signed in.")
    return redirect(next_url)


def _login_page(
    request: Request, next_url: str, username: str, status_code: int, error: str
) -> Response:
    # Shown in place, not flashed: a failed sign-in saves no session.
    return page(
        request,
        "login.html",
        status_code,
        next=next_url,
        users=DEMO_USERS,
        username=username,
        notices=[("error", error)],
    )


def sign_in(request: Request, user: User) -> None:
    session = session_of(request)
    # A new key (login cycles it) and a new CSRF secret: no token from before sign-in works.
    auth.login(session, user.id, auth_hash=user.password_hash)
    session[csrf.SESSION_KEY] = csrf.new_secret()
    saved = accounts_of(request).take_cart(user.id)
    if saved:
        items = cart_of(session)
        for record_id, quantity in saved.items():
            items[record_id] = items.get(record_id, 0) + quantity
        session[_CART] = items


def sign_out(request: Request) -> None:
    """End the session; the theme stays on this device, the cart goes with the account."""
    session = session_of(request)
    user = current_user(request)
    theme = session.get(_THEME)
    cart = cart_of(session)
    if user is not None and cart:
        accounts_of(request).keep_cart(user.id, cart)
    auth.logout(session)
    # The flush dropped everything: these writes start a fresh, anonymous session.
    if theme in THEMES and theme != THEMES[0]:  # the default needs no session
        session[_THEME] = theme


async def logout(request: Request, form: FormData) -> Response:
    sign_out(request)
    messages.info(request, "You are signed out. See you soon.")
    return redirect("/")


@login_required
async def dashboard(request: Request) -> Response:
    devices = await auth.sessions_for(session_of(request))
    return page(request, "dashboard.html", device_count=len(devices))


async def records(request: Request) -> Response:
    params = request.query_params.multi_items()
    kept = [(name, value) for name, value in params if value.strip()]
    if len(kept) < len(params):
        # The filter form sends every field, empty or not: keep the URL to what was chosen.
        query = urlencode(kept)
        return RedirectResponse("/records" + (f"?{query}" if query else ""), status_code=302)
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
    return page(request, "sessions.html", devices=devices, current=session.key_hash)


async def revoke_one(request: Request, form: FormData) -> Response:
    user = current_user(request)
    if user is None:
        return redirect("/login?next=/account/sessions")
    session = session_of(request)
    target = text(form, "session")
    if target == session.key_hash:
        sign_out(request)
        messages.info(request, "You are signed out. See you soon.")
        return redirect("/")
    device = next((d for d in await auth.sessions_for(session) if d.session_id == target), None)
    store: Store = request.app.state.store
    # The store revokes only this user's sessions: another user's id ends nothing.
    if device is None or not await store.revoke(user.id, target):
        messages.info(request, "That device was already signed out.")
    else:
        messages.success(request, f"Signed out {device.device}.")
    return redirect("/account/sessions")


# Signing out other devices is what an intruder would do first: it needs a
# sign-in from the last few minutes (step-up), not one from two weeks ago.
REAUTH_WITHIN = 300


async def revoke_others(request: Request, form: FormData) -> Response:
    if current_user(request) is None:
        return redirect("/login?next=/account/sessions")
    if not auth.require_recent_auth(session_of(request), REAUTH_WITHIN):
        messages.info(request, "Please enter your password again to sign out your other devices.")
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


def _step_errors(step: int, answers: dict[str, Any], accounts: Accounts) -> dict[str, str]:
    """What is wrong with ``step``'s saved answers: checked on every path, "back" included."""
    errors: dict[str, str] = {}
    if step == 1:
        username = answers.get("username") or ""
        if not isinstance(username, str) or not _USERNAME_RE.match(username):
            errors["username"] = "Use 3 to 20 lowercase letters, digits or underscores."
        elif accounts.taken(username):
            errors["username"] = "That username is taken."
        if not answers.get("password_hash"):
            errors["password"] = "Choose a password."  # noqa: S105 (a message, not a password)
    elif step == 2:
        name = answers.get("name") or ""
        if not isinstance(name, str) or not name:
            errors["name"] = "Tell us what to call you."
        elif len(name) > _MAX_NAME:
            errors["name"] = f"Use at most {_MAX_NAME} characters."
        genre = answers.get("genre")
        if genre and genre not in catalogue.GENRES:
            errors["genre"] = "Pick one of the genres listed."
    return errors


def _first_open_step(answers: dict[str, Any], accounts: Accounts) -> int:
    """The first step whose answers do not pass: no step after it can be reached."""
    return next((step for step in (1, 2) if _step_errors(step, answers, accounts)), 3)


async def signup_start(request: Request) -> Response:
    answers = _answers(session_of(request))
    return redirect(f"/signup/{_first_open_step(answers, accounts_of(request))}")


async def signup(request: Request, form: FormData) -> Response:
    step = int(request.path_params["step"])
    if step not in (1, 2, 3):
        raise HTTPException(404)
    session = session_of(request)
    accounts = accounts_of(request)
    answers = _answers(session)
    if step > _first_open_step(answers, accounts):
        return redirect(f"/signup/{_first_open_step(answers, accounts)}")
    if request.method == "GET":
        # Problems with what was typed before (and saved by "back"), not with empty fields.
        shown = {
            field: error
            for field, error in _step_errors(step, answers, accounts).items()
            if answers.get(field)
        }
        return _signup_page(request, step, answers, shown)

    errors: dict[str, str] = {}
    answers = dict(answers)
    if step == 1:
        answers["username"] = text(form, "username").lower()
        password = text(form, "password", strip=False)
        if password and len(password) < _MIN_PASSWORD:
            errors["password"] = f"Use at least {_MIN_PASSWORD} characters."
        elif password:
            # Only the argon2 hash is kept in the session, never the password.
            answers["password_hash"] = await accounts.hash(password)
    elif step == 2:
        answers["name"] = text(form, "name")
        answers["genre"] = text(form, "genre")
    # Saved whatever the action, so nothing typed is lost; checked before every step forward.
    session[_SIGNUP] = answers
    if text(form, "action") == "back":
        return redirect(f"/signup/{max(1, step - 1)}")
    errors = {**_step_errors(step, answers, accounts), **errors}
    # Steps 1 and 2 passed, or this request would have been sent back to them above.
    if step == 3 and form.get("terms") != "yes":
        errors["terms"] = "Please accept the (imaginary) terms to continue."
    if errors:
        return _signup_page(request, step, answers, errors, status_code=400)
    if step < 3:
        messages.info(request, f"Step {step} saved: you can come back to it any time.")
        return redirect(f"/signup/{step + 1}")
    user = accounts.add(
        answers["username"], answers["name"], answers["password_hash"], answers.get("genre") or None
    )
    session.pop(_SIGNUP, None)
    sign_in(request, user)
    messages.success(request, f"Welcome to the shop, {user.name}! Your account is ready.")
    return redirect("/dashboard")


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


def _when(value: dt.datetime | float | None) -> str:
    if value is None:
        return "—"
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.strftime("%d %b %Y, %H:%M:%S UTC")


def in_words(seconds: float) -> str:
    """A duration as people say it: "14 days", "90 minutes", "5 seconds"."""
    seconds = max(0, round(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        # Below two of a unit, the smaller one says it better ("90 minutes", not "2 hours").
        if seconds >= 2 * size:
            count = round(seconds / size)
            return f"{count} {unit}s"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


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


def create_app(
    store: str | Store | None = None, *, throttle: LoginThrottle | None = None
) -> Starlette:
    """The demo shop over ``store`` (a URL or a store; the embedded SQLite by default).

    The store's schema is created when the app starts (``sessionary migrate``).
    ``throttle`` limits failed sign-ins (5 per account and per address in 5 minutes).
    """
    if not isinstance(store, Store):
        store = from_url(store or DEFAULT_STORE_URL)
    # The other settings (SESSIONARY_SECRET_KEY, which cookie:// needs, …) from the environment.
    # Device-bound sessions on (they need a server-side store): a DBSC-capable
    # browser is offered a binding at sign-in.
    dbsc = None if store.client_side else DBSCConfig()
    config = SessionConfig.from_env(store=store, dbsc=dbsc)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await config.store.migrate()
        yield

    templates = Jinja2Templates(
        directory=HERE / "templates", context_processors=[session_context, shop_context]
    )
    templates.env.filters["when"] = _when
    templates.env.filters["money"] = _money
    templates.env.filters["in_words"] = in_words
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
        form_route("/account/sessions/revoke", revoke_one),
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
    app.state.config = config
    app.state.throttle = throttle or LoginThrottle()
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
