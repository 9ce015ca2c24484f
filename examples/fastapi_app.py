"""FastAPI + sessionary: the session as a dependency, flash messages, Jinja2 templates.

Run it::

    pip install 'sessionary[fastapi,jinja2]' python-multipart uvicorn
    sessionary migrate --store sqlite:///sessionary.db
    uvicorn fastapi_app:app              # from the examples/ directory

``SESSIONARY_STORE_URL`` and ``SESSIONARY_SECRET_KEY`` choose the store and secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import DictLoader, Environment, select_autoescape

from sessionary import SessionConfig, SessionMiddleware, messages
from sessionary.integrations.fastapi import SessionDep
from sessionary.templating import session_context

PAGE = """<!doctype html>
<title>sessionary on FastAPI</title>
<ul class="messages">{% for m in messages %}<li class="{{ m.tags }}">{{ m }}</li>{% endfor %}</ul>
<p>Hello {{ session.get("name", "stranger") }}, visit {{ session.get("visits") }}.</p>
<form method="post" action="/name"><input name="name"><button>Save</button></form>
<form method="post" action="/cycle"><button>New key</button></form>
<form method="post" action="/flush"><button>Forget me</button></form>
"""


def create_app(config: SessionConfig) -> FastAPI:
    """The example app over ``config`` (tests pass their own store)."""
    app = FastAPI()
    app.add_middleware(SessionMiddleware, config=config)
    templates = Jinja2Templates(
        env=Environment(loader=DictLoader({"index.html": PAGE}), autoescape=select_autoescape()),
        context_processors=[session_context],
    )

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request, session: SessionDep) -> HTMLResponse:
        session["visits"] = session.get("visits", 0) + 1
        return templates.TemplateResponse(request, "index.html")

    @app.post("/name")
    async def name(
        request: Request, session: SessionDep, name: Annotated[str, Form()] = ""
    ) -> RedirectResponse:
        value = name.strip() or "stranger"
        session["name"] = value
        messages.success(request, f"Hello, {value}!")
        return RedirectResponse("/", status_code=303)

    @app.post("/cycle")
    async def cycle(request: Request, session: SessionDep) -> RedirectResponse:
        session.cycle_key()  # what a login does: same data, fresh key
        messages.info(session, "New session key, same data.")
        return RedirectResponse("/", status_code=303)

    @app.post("/flush")
    async def flush(request: Request, session: SessionDep) -> RedirectResponse:
        session.flush()  # what a logout does: data, record and cookie gone
        messages.warning(session, "Session forgotten.")
        return RedirectResponse("/", status_code=303)

    @app.get("/state")
    async def state(session: SessionDep) -> dict[str, Any]:
        return {k: v for k, v in session.items() if k != "_messages"}

    return app


app = create_app(SessionConfig.from_env())
