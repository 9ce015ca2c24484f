"""The app the DBSC tests serve through both middlewares: sign in, who am I, sign out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from sessionary import Session, SessionConfig, SessionMiddleware, WSGISessionMiddleware, auth
from sessionary.dbsc import SKIPPED_KEY, offer

from .dbsc_agent import Headers, Response, Send

BASE = "https://app.example"


def act(session: Session, path: str, query: dict[str, str], state: Any) -> tuple[int, Any]:
    if path == "/login":
        auth.login(session, query.get("user", "alice"))
        return 200, {"ok": True}
    if path == "/logout":
        auth.logout(session)
        return 200, {"ok": True}
    if path == "/offer":
        offer(session, authorization=query.get("authorization"))
        return 200, {"ok": True}
    if path == "/set":
        session.update(query)
    if path == "/boom":
        return 500, {}
    skipped = state.get(SKIPPED_KEY)
    return 200, {
        "user": session.user_id,
        "bound": session.device_bound,
        "data": dict(session.items()),
        "skipped": skipped,
    }


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    query = dict(parse_qsl(scope["query_string"].decode()))
    status, body = act(scope["session"], scope["path"], query, scope)
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    status, body = act(environ["sessionary.session"], environ["PATH_INFO"], query, environ)
    start_response(f"{status} X", [("content-type", "application/json")])
    return [json.dumps(body).encode()]


def _response(r: httpx.Response) -> Response:
    return Response(r.status_code, list(r.headers.multi_items()), r.content)


def sender(edge: str, config: SessionConfig) -> Send:
    """``send(method, path, headers)`` to the test app behind ``edge``'s middleware."""
    if edge == "asgi":
        transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))

        async def send_asgi(method: str, path: str, headers: Headers) -> Response:
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                return _response(await client.request(method, path, headers=headers))

        return send_asgi
    return wsgi_sender(WSGISessionMiddleware(wsgi_app, config))


def wsgi_sender(app: Any) -> Send:
    """``send`` to any WSGI app (Flask, Django's handler), each request in a thread."""
    transport = httpx.WSGITransport(app)

    def call(method: str, path: str, headers: Headers) -> Response:
        with httpx.Client(transport=transport, base_url=BASE) as client:
            return _response(client.request(method, path, headers=headers))

    async def send(method: str, path: str, headers: Headers) -> Response:
        # In a thread, as a WSGI server would: concurrent requests really overlap.
        return await asyncio.to_thread(call, method, path, headers)

    return send
