"""One tiny app, served through both middlewares, that does to the session
what its path says: ``/set?k=v``, ``/get?k=``, ``/flush``, ``/cycle`` …"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from sessionary import Session


class AppCrashed(RuntimeError):
    """The test app's unhandled exception."""


def act(session: Session, path: str, query: dict[str, str]) -> tuple[int, Any]:
    query.pop("sid", None)  # the URL transport's key, not an instruction
    if path == "/set":
        for k, v in query.items():
            session[k] = v
    elif path == "/setint":
        for k, v in query.items():
            session[k] = int(v)
    elif path == "/get":
        return 200, {k: session.get(k) for k in query}
    elif path == "/all":
        return 200, dict(session.items())
    elif path == "/del":
        for k in query:
            del session[k]
    elif path == "/append":
        session.setdefault("cart", [])
        session["cart"].append(query["item"])  # nested mutation, no modified flag
        return 200, session["cart"]
    elif path == "/flush":
        session.flush()
    elif path == "/cycle":
        session.cycle_key()
    elif path == "/clear":
        session.clear()
    elif path == "/expiry":
        session.set_expiry(int(query["v"]))
    elif path == "/boom":
        session["boom"] = "1"
        return 500, "boom"
    elif path == "/crash":
        # The app fails before any response starts, after acting on the session.
        if query.get("do") == "flush":
            session.flush()
        elif query.get("do") == "cycle":
            session.cycle_key()
        session["crashed"] = "yes"
        raise AppCrashed(query.get("do", ""))
    elif path == "/key":
        return 200, session.session_key
    return 200, {"key": session.session_key}


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
    status, body = act(scope["session"], scope["path"], query)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    status, body = act(environ["sessionary.session"], environ["PATH_INFO"], query)
    start_response(f"{status} X", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
