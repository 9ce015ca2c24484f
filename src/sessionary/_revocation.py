"""Revocation reaches live WebSocket connections.

A WebSocket belongs to the session key it opened with. When that key ends
(logout, "sign out other sessions", ``logout_everywhere``, a password change
seen by ``auth.get_user_id``, ``store.revoke``, ``store.forget``, a login's
key rotation), the socket is closed with :data:`CLOSE_CODE` and the client
reconnects with whatever cookie it now holds.

- **In this process, at once.** ``SessionMiddleware`` registers each accepted
  socket here under its key's hash (never the key); every store's
  ``delete``, ``forget`` and ``revoke`` (both colours, wrapped once by
  :func:`instrument`) report what they ended, and the matching sockets of
  that store are closed on their own event loop.
- **Across processes, through the store.** A store with a revocation feed
  (``RedisStore`` on one server or Sentinel) publishes each ended key hash;
  while a process holds open sockets, each event loop running them
  subscribes and closes the matching ones. Other stores are polled: every
  ``SessionConfig.revocation_poll_interval`` seconds, one ``exists`` per open
  session checks that its key is still live. A (re)subscription also polls
  once, so nothing published while unsubscribed is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._keys import hash_key
from .exceptions import StoreError

if TYPE_CHECKING:
    from ._config import SessionConfig
    from ._session import Session
    from .stores.base import Store

__all__ = ["CLOSE_CODE", "CLOSE_REASON", "instrument", "serve_websocket"]

CLOSE_CODE = 4401
"""The close code of a revoked session's socket: 4000-4999 is the application's
range; 4401 reads as HTTP's 401 (authenticate again), as in graphql-ws."""
CLOSE_REASON = "session revoked"
_RETRY_AFTER = 1.0  # seconds before a lost revocation feed is subscribed again

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
_logger = logging.getLogger("sessionary")


class LiveSocket:
    """One accepted WebSocket of a session, as the registry knows it."""

    __slots__ = ("__weakref__", "closed", "key_hash", "loop", "send", "session", "store", "user_id")

    def __init__(self, session: Session, store: Store, key_hash: str, send: Send) -> None:
        self.session = session
        self.store = store
        self.key_hash = key_hash
        self.user_id = session.user_id
        self.send = send
        self.loop = asyncio.get_running_loop()
        self.closed = False

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.send({"type": "websocket.close", "code": CLOSE_CODE, "reason": CLOSE_REASON})
        except Exception:  # noqa: BLE001 - the client may already be gone; nothing to close then
            return

    def close_soon(self) -> None:
        """Close from any thread, on the socket's own loop."""
        try:
            self.loop.call_soon_threadsafe(_spawn, self.close())
        except RuntimeError:  # the loop is closed: so is the socket
            return


_tasks: set[asyncio.Task[Any]] = set()


def _spawn(coroutine: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(coroutine)
    _tasks.add(task)  # a strong reference until it is done
    task.add_done_callback(_tasks.discard)


# -- the process-local registry ------------------------------------------------

_lock = threading.Lock()
_by_hash: dict[str, weakref.WeakSet[LiveSocket]] = {}
_watchers: dict[tuple[asyncio.AbstractEventLoop, int], _Watcher] = {}


def _register(live: LiveSocket, config: SessionConfig) -> None:
    with _lock:
        _by_hash.setdefault(live.key_hash, weakref.WeakSet()).add(live)
        slot = (live.loop, id(live.store))
        watcher = _watchers.get(slot)
        if watcher is None:
            feed = live.store.has_revocation_feed
            interval = config.revocation_poll_interval
            if not feed and not interval:
                return  # nothing watches other processes' revocations: polling is off
            watcher = _watchers[slot] = _Watcher(slot, live.store, feed, interval)
        watcher.sockets.add(live)


def _unregister(live: LiveSocket) -> None:
    with _lock:
        sockets = _by_hash.get(live.key_hash)
        if sockets is not None:
            sockets.discard(live)
            if not sockets:
                del _by_hash[live.key_hash]
        watcher = _watchers.get((live.loop, id(live.store)))
        if watcher is not None:
            watcher.sockets.discard(live)


def ended(
    store: Store,
    key_hashes: Iterable[str] = (),
    *,
    user_id: str | None = None,
    keep: str | None = None,
) -> None:
    """Close ``store``'s sockets whose key hash is in ``key_hashes``, and with
    ``user_id`` every socket of that user but the session hashed ``keep``."""
    if not _by_hash:  # the common case: no socket open in this process
        return
    with _lock:
        doomed = {live for key_hash in key_hashes for live in _by_hash.get(key_hash, ())}
        if user_id is not None:
            doomed.update(
                live
                for sockets in _by_hash.values()
                for live in sockets
                if live.user_id == user_id and live.key_hash != keep
            )
    for live in doomed:
        if live.store is store and not live.closed:
            live.close_soon()


# -- where revocations happen: every store's delete, forget and revoke -----------


def _describe(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a ``delete``/``forget``/``revoke`` call ended, as :func:`ended` arguments."""
    from .stores.base import ALL, ALL_BUT_CURRENT

    if name.startswith("delete"):
        return {"key_hashes": (hash_key(args[0]),)}
    if name.startswith("forget"):
        return {"key_hashes": (args[0],)}
    user_id, target = args[0], args[1]
    if target == ALL:
        return {"user_id": user_id}
    if target == ALL_BUT_CURRENT:
        current = args[2] if len(args) > 2 else kwargs.get("current")
        return {"user_id": user_id, "keep": hash_key(current) if current else None}
    return {"key_hashes": (target,)}


_ENDING = ("delete", "forget", "revoke")


def instrument(cls: type[Store]) -> None:
    """Have ``cls``'s own ending methods report to the registry once they succeed."""
    for base_name in _ENDING:
        for name in (base_name, f"{base_name}_sync"):
            method = cls.__dict__.get(name)
            if method is None or getattr(method, "__reports_revocation__", False):
                continue
            setattr(cls, name, _reporting(name, method))


def _reporting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def reporting_async(self: Store, *args: Any, **kwargs: Any) -> Any:
            result = await method(self, *args, **kwargs)
            if _by_hash and not self.client_side:
                ended(self, **_describe(name, args, kwargs))
            return result

        reporting_async.__reports_revocation__ = True  # type: ignore[attr-defined]
        return reporting_async

    @functools.wraps(method)
    def reporting(self: Store, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        if _by_hash and not self.client_side:
            ended(self, **_describe(name, args, kwargs))
        return result

    reporting.__reports_revocation__ = True  # type: ignore[attr-defined]
    return reporting


# -- across processes: one watcher per event loop and store ----------------------


class _Watcher:
    """Closes the sockets of one store on one loop whose keys ended elsewhere.

    Runs while it has sockets: subscribed to the store's feed if it has one,
    else polling every ``interval`` seconds.
    """

    def __init__(
        self,
        slot: tuple[asyncio.AbstractEventLoop, int],
        store: Store,
        feed: bool,
        interval: float | None,
    ) -> None:
        self.slot = slot
        self.store = store
        self.interval = interval
        self.sockets: weakref.WeakSet[LiveSocket] = weakref.WeakSet()
        _spawn(self._run(feed))

    def _done(self) -> bool:
        """Whether no socket is left; if so, this watcher is retired (under the lock,
        so that the next socket starts a new one)."""
        with _lock:
            if self.sockets:
                return False
            if _watchers.get(self.slot) is self:
                del _watchers[self.slot]
            return True

    async def _run(self, feed: bool) -> None:
        try:
            if not feed:
                await self._poll()
                return
            while not self._done():
                hashes = self.store.revocations()
                try:
                    await self._listen(hashes)
                except Exception as exc:  # noqa: BLE001 - the watcher outlives any one failure
                    _logger.warning("revocation feed lost, subscribing again: %s", _reason(exc))
                    await asyncio.sleep(_RETRY_AFTER)
                finally:
                    await _aclose(hashes)
        finally:
            # Ended for good (or its loop shut down): the next socket starts another.
            with _lock:
                if _watchers.get(self.slot) is self:
                    del _watchers[self.slot]

    async def _listen(self, hashes: AsyncIterator[str | None]) -> None:
        async for key_hash in hashes:
            if key_hash == "":
                await self._check()  # subscribed: catch up on what was missed before
            elif key_hash is not None:
                ended(self.store, (key_hash,))
            if self._done():
                return

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval or _RETRY_AFTER)
            if self._done():
                return
            await self._check()

    async def _check(self) -> None:
        """One ``exists`` per open session; close the sockets of those that ended."""
        sessions: dict[str, list[LiveSocket]] = {}
        for live in list(self.sockets):
            if not live.closed:
                sessions.setdefault(live.key_hash, []).append(live)
        for sockets in sessions.values():
            key = sockets[0].session.session_key
            try:
                alive = key is not None and await self.store.exists(key)
            except StoreError:
                continue  # an outage is not a revocation: check again next time
            except Exception as exc:  # noqa: BLE001 - nor is a store's bug
                _logger.warning("revocation check failed: %s", _reason(exc))
                continue
            if not alive:
                for live in sockets:
                    await live.close()


async def _aclose(hashes: AsyncIterator[str | None]) -> None:
    close = getattr(hashes, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):  # a broken connection closes as well as it can
            await close()


def _reason(exc: BaseException) -> str:
    # A store error's message names the server; anything else only its type
    # (its text could quote session data).
    return str(exc) if isinstance(exc, StoreError) else type(exc).__name__


# -- the ASGI edge ---------------------------------------------------------------


async def serve_websocket(
    config: SessionConfig,
    session: Session,
    app: Callable[[MutableMapping[str, Any], Any, Send], Awaitable[None]],
    scope: MutableMapping[str, Any],
    receive: Any,
    send: Send,
) -> None:
    """Run ``app`` for a WebSocket, registered while open so that revoking its
    session closes it."""
    store = config.store
    if store.client_side:  # nothing on the server to revoke
        await app(scope, receive, send)
        return
    live: LiveSocket | None = None

    async def send_wrapper(message: Message) -> None:
        nonlocal live
        if live is not None and live.closed:
            if message["type"] == "websocket.close":
                return  # closed already, for the revocation
            raise ConnectionAbortedError(CLOSE_REASON)  # Starlette: WebSocketDisconnect
        await send(message)
        if message["type"] == "websocket.accept" and live is None:
            key_hash = session.key_hash
            if key_hash is not None:
                live = LiveSocket(session, store, key_hash, send)
                _register(live, config)

    try:
        await app(scope, receive, send_wrapper)
    finally:
        if live is not None:
            _unregister(live)
