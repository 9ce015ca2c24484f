"""Flask + sessionary: ``flask.session`` is a server-side sessionary session.

Run it::

    pip install 'sessionary[flask]'
    sessionary migrate --store sqlite:///sessionary.db
    flask --app flask_app run            # from the examples/ directory

``SESSIONARY_STORE_URL`` and ``SESSIONARY_SECRET_KEY`` choose the store and secret.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, redirect, render_template_string, request, session
from werkzeug.wrappers import Response

from sessionary import SessionConfig, messages
from sessionary.integrations.flask import init_app
from sessionary.templating import flask_session_context

PAGE = """<!doctype html>
<title>sessionary on Flask</title>
<ul class="messages">{% for m in messages %}<li class="{{ m.tags }}">{{ m }}</li>{% endfor %}</ul>
<p>Hello {{ session.get("name", "stranger") }}, visit {{ session.get("visits") }}.</p>
<p>This session is {{ "permanent" if session.permanent else "until the browser closes" }}.</p>
<form method="post" action="/name"><input name="name">
<label><input type="checkbox" name="remember"> remember me</label><button>Save</button></form>
<form method="post" action="/cycle"><button>New key</button></form>
<form method="post" action="/flush"><button>Forget me</button></form>
"""


def create_app(config: SessionConfig) -> Flask:
    """The example app over ``config`` (tests pass their own store)."""
    app = Flask(__name__)
    init_app(app, config)  # flask.session is now a sessionary session
    app.context_processor(flask_session_context)

    @app.get("/")
    def index() -> str:
        session["visits"] = session.get("visits", 0) + 1
        return render_template_string(PAGE)

    @app.post("/name")
    def name() -> Response:
        value = request.form.get("name", "").strip() or "stranger"
        session["name"] = value
        # Flask's flag: a permanent session's cookie lives cookie_age seconds.
        session.permanent = "remember" in request.form
        messages.success(request, f"Hello, {value}!")
        return redirect("/", code=303)

    @app.post("/cycle")
    def cycle() -> Response:
        session.cycle_key()  # type: ignore[attr-defined]  # what a login does
        messages.info(request, "New session key, same data.")
        return redirect("/", code=303)

    @app.post("/flush")
    def flush() -> Response:
        session.flush()  # type: ignore[attr-defined]  # what a logout does
        messages.warning(request, "Session forgotten.")
        return redirect("/", code=303)

    @app.get("/state")
    def state() -> dict[str, Any]:
        return {k: v for k, v in session.items() if k != "_messages"}

    return app


app = create_app(SessionConfig.from_env())
