"""Starlette + sessionary: server-side sessions, flash messages, Jinja2 templates.

Run it::

    pip install 'sessionary[starlette,jinja2]' python-multipart uvicorn
    sessionary migrate --store sqlite:///sessionary.db
    uvicorn starlette_app:app            # from the examples/ directory

``SESSIONARY_STORE_URL`` and ``SESSIONARY_SECRET_KEY`` choose the store and secret.
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sessionary import SessionConfig, SessionMiddleware, messages
from sessionary.templating import session_context

PAGE = """<!doctype html>
<title>sessionary on Starlette</title>
<ul class="messages">{% for m in messages %}<li class="{{ m.tags }}">{{ m }}</li>{% endfor %}</ul>
<p>Hello {{ session.get("name", "stranger") }}, visit {{ session.get("visits") }}.</p>
<form method="post" action="/name"><input name="name"><button>Save</button></form>
<form method="post" action="/cycle"><button>New key</button></form>
<form method="post" action="/flush"><button>Forget me</button></form>
"""


def create_app(config: SessionConfig) -> Starlette:
    """The example app over ``config`` (tests pass their own store)."""
    templates = Jinja2Templates(
        env=Environment(loader=DictLoader({"index.html": PAGE}), autoescape=select_autoescape()),
        context_processors=[session_context],
    )

    async def index(request: Request) -> Response:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return templates.TemplateResponse(request, "index.html")

    async def name(request: Request) -> Response:
        form = await request.form()
        value = str(form.get("name", "")).strip() or "stranger"
        request.session["name"] = value
        messages.success(request, f"Hello, {value}!")
        return RedirectResponse("/", status_code=303)

    async def cycle(request: Request) -> Response:
        request.session.cycle_key()  # what a login does: same data, fresh key
        messages.info(request, "New session key, same data.")
        return RedirectResponse("/", status_code=303)

    async def flush(request: Request) -> Response:
        request.session.flush()  # what a logout does: data, record and cookie gone
        messages.warning(request, "Session forgotten.")
        return RedirectResponse("/", status_code=303)

    async def state(request: Request) -> Response:
        data = {k: v for k, v in request.session.items() if k != "_messages"}
        return JSONResponse(data)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/name", name, methods=["POST"]),
            Route("/cycle", cycle, methods=["POST"]),
            Route("/flush", flush, methods=["POST"]),
            Route("/state", state),
        ],
        middleware=[Middleware(SessionMiddleware, config=config)],
    )


app = create_app(SessionConfig.from_env())
