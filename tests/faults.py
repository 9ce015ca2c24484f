"""Fault injection for outage tests: a TCP proxy on loopback that can be cut.

The proxy runs its own event loop in a thread, so it serves sync and async
clients alike. ``cut()`` drops every open connection and refuses new ones
(the server "goes down"); ``restore()`` brings it back on the same port;
``blackhole()`` accepts connections and never answers (a hung server);
``stall()`` keeps every connection open but stops forwarding, in both
directions, until ``resume()`` delivers what was held (a frozen server, or a
network that stops delivering, with the client's pool warm); ``drop()``
aborts the open connections and keeps listening (a server restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._mode = "forward"
        self._flowing: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._listen())

    def _call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _listen(self) -> None:
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self._mode == "blackhole":
            await reader.read()  # hold the connection open, answer nothing
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)

        flowing = self._flowing
        assert flowing is not None

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    await flowing.wait()  # held while stalled, delivered on resume
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        """The server goes down: open connections drop, new ones are refused."""
        self._call(self._close_all())

    def restore(self) -> None:
        """The server comes back on the same port."""
        self._mode = "forward"
        self._call(self._listen())

    def blackhole(self) -> None:
        """The server hangs: connections are accepted and never answered."""
        self._call(self._close_all())
        self._mode = "blackhole"
        self._call(self._listen())

    def stall(self) -> None:
        """Stop forwarding on every connection, old and new; keep them all open."""
        self._loop.call_soon_threadsafe(self._clear_flowing)

    def resume(self) -> None:
        """Forward again, delivering what the stall held back."""
        self._loop.call_soon_threadsafe(self._set_flowing)

    def _clear_flowing(self) -> None:
        assert self._flowing is not None
        self._flowing.clear()

    def _set_flowing(self) -> None:
        assert self._flowing is not None
        self._flowing.set()

    async def _abort_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _set_flowing_threadsafe(self) -> None:
        if self._flowing is not None:
            self._loop.call_soon_threadsafe(self._set_flowing)

    def drop(self) -> None:
        """Abort every open connection (a server restart); new ones are accepted."""
        self._call(self._abort_connections())

    def close(self) -> None:
        self._set_flowing_threadsafe()
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def outage_app(break_store: Callable[[], None]) -> Any:
    """An ASGI app over ``scope["session"]``: ``/write`` counts, ``/break-then-write``
    takes the store down while the request is in flight and then writes."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        session = scope["session"]
        if scope["path"] == "/break-then-write":
            break_store()
            session["lost"] = "write"
        elif scope["path"] == "/write":
            session["n"] = session.get("n", 0) + 1
        body = repr(dict(session.items())).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app
