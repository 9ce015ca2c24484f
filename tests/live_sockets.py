"""A Starlette app with a WebSocket, the worker processes that serve it, and a
small WebSocket client (wsproto over asyncio streams: both already locked).

``build()`` is the uvicorn factory of the two-worker tests: its store comes
from ``LIVE_SOCKETS_STORE`` (a URL; ``LIVE_SOCKETS_TABLE`` names a SQL table),
its polling interval from ``LIVE_SOCKETS_POLL`` (seconds, or ``none``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Event, RejectConnection, TextMessage
from wsproto.events import Request as Handshake

from sessionary import Session, SessionConfig, SessionMiddleware, auth
from sessionary.stores import from_url

SECRET = "live-sockets-test-secret-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent


def app_for(config: SessionConfig) -> Starlette:
    """Log in, sign out (here, everywhere, everywhere else), and echo over a socket."""

    def session_of(connection: Request | WebSocket) -> Session:
        session: Session = connection.scope["session"]
        return session

    async def login(request: Request) -> JSONResponse:
        query = request.query_params
        await auth.alogin(session_of(request), query["user"], query.get("password", "v1"))
        return JSONResponse({"ok": True})

    async def whoami(request: Request) -> JSONResponse:
        # The password (its hash) as it is now: a changed one ends the session.
        password = request.query_params.get("password", "v1")
        return JSONResponse({"user": auth.get_user_id(session_of(request), password)})

    async def logout(request: Request) -> JSONResponse:
        auth.logout(session_of(request))
        return JSONResponse({"ok": True})

    async def everywhere(request: Request) -> JSONResponse:
        return JSONResponse({"ended": await auth.logout_everywhere(session_of(request))})

    async def others(request: Request) -> JSONResponse:
        return JSONResponse({"ended": await auth.revoke_other_sessions(session_of(request))})

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        user = session_of(websocket).user_id
        try:
            while True:
                text = await websocket.receive_text()
                await websocket.send_text(f"{user}:{text}")
        except WebSocketDisconnect:
            return

    async def push(websocket: WebSocket) -> None:
        # Sends without reading: learns of a close only from its next send.
        await websocket.accept()
        try:
            while True:
                await websocket.send_text("tick")
                await asyncio.sleep(0.05)
        except WebSocketDisconnect as exc:
            websocket.app.state.push_ended.append(exc.code)

    app = Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            Route("/whoami", whoami),
            Route("/logout", logout, methods=["POST"]),
            Route("/everywhere", everywhere, methods=["POST"]),
            Route("/others", others, methods=["POST"]),
            WebSocketRoute("/ws", echo),
            WebSocketRoute("/push", push),
        ],
        middleware=[Middleware(SessionMiddleware, config=config)],
    )
    app.state.push_ended = []
    return app


def build() -> Starlette:
    """The worker's app (``uvicorn --factory tests.live_sockets:build``)."""
    table = os.environ.get("LIVE_SOCKETS_TABLE")
    store = from_url(os.environ["LIVE_SOCKETS_STORE"], **({"table": table} if table else {}))
    poll = os.environ.get("LIVE_SOCKETS_POLL", "none")
    return app_for(
        SessionConfig(
            store=store,
            secret_key=SECRET,
            revocation_poll_interval=None if poll == "none" else float(poll),
        )
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def workers(
    count: int, store_url: str, *, table: str | None = None, poll: float | None = None
) -> Iterator[list[str]]:
    """``count`` uvicorn processes serving :func:`build`, started side by side;
    yields their base URLs."""
    env = {
        **os.environ,
        "LIVE_SOCKETS_STORE": store_url,
        "LIVE_SOCKETS_POLL": "none" if poll is None else str(poll),
    }
    if table:
        env["LIVE_SOCKETS_TABLE"] = table
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.live_sockets:build"]
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO,
            env=env,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 30
        for port, process in zip(ports, processes, strict=True):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the worker on port {port} did not start") from None
                    time.sleep(0.05)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def log_in(base_url: str, user: str) -> str:
    """Log ``user`` in on a fresh browser; return its session cookie's value."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/login", params={"user": user})
        response.raise_for_status()
        return response.cookies["sessionid"]


async def post(base_url: str, path: str, cookie: str, method: str = "POST") -> Any:
    async with httpx.AsyncClient(base_url=base_url, cookies={"sessionid": cookie}) as client:
        response = await client.request(method, path)
        response.raise_for_status()
        return response.json()


class Socket:
    """One client WebSocket: send text, read what comes back, see it closed."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: WSConnection
    ) -> None:
        self._reader, self._writer, self._ws = reader, writer, ws
        self._events: list[Event] = []

    @classmethod
    async def open(cls, base_url: str, cookie: str, path: str = "/ws") -> Socket:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        ws = WSConnection(ConnectionType.CLIENT)
        headers = [(b"cookie", f"sessionid={cookie}".encode())]
        writer.write(ws.send(Handshake(host=host, target=path, extra_headers=headers)))
        socket_ = cls(reader, writer, ws)
        event = await socket_._next(5.0)
        if not isinstance(event, AcceptConnection):
            raise AssertionError(f"the socket was not accepted: {event!r}")
        return socket_

    async def _next(self, within: float) -> Event:
        deadline = asyncio.get_running_loop().time() + within
        while not self._events:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("no WebSocket event in time")
            data = await asyncio.wait_for(self._reader.read(65536), left)
            self._ws.receive_data(data or None)
            self._events.extend(self._ws.events())
        return self._events.pop(0)

    async def echo(self, text: str, within: float = 5.0) -> str:
        """Send ``text`` and return the app's answer."""
        self._writer.write(self._ws.send(TextMessage(data=text)))
        event = await self._next(within)
        if not isinstance(event, TextMessage):
            raise AssertionError(f"expected an answer, got {event!r}")
        return str(event.data)

    async def closed(self, within: float) -> CloseConnection:
        """Wait at most ``within`` seconds for the server to close the socket."""
        event = await self._next(within)
        while isinstance(event, TextMessage):  # what a pushing app sent before
            event = await self._next(within)
        if not isinstance(event, CloseConnection | RejectConnection):
            raise AssertionError(f"expected a close, got {event!r}")
        assert isinstance(event, CloseConnection)
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            self._writer.write(self._ws.send(event.response()))  # as a browser answers
        return event

    async def aclose(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            return
