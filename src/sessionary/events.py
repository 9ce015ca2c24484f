"""Observability: a small event hook API.

``SessionConfig(event_hooks=[hook])`` calls ``hook(event)`` for every session
event: created, loaded, saved, cycled, flushed, expired (a key that named no
live record), revoked, store_error and bad_cookie, and for device-bound sessions
dbsc_bound, dbsc_refreshed, dbsc_forged (a proof that did not verify),
dbsc_refused (a bound session without its bound cookie) and dbsc_skipped
(the browser said it skipped a refresh), with the time spent in the
store. Events carry the key's hash, never the key. With no hooks configured,
nothing is timed or built: the hot path pays one truth test.
Hooks run inline and must not raise (and should be quick).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ._keys import hash_key

__all__ = ["EventHook", "EventKind", "SessionEvent"]

EventKind = Literal[
    "created",
    "loaded",
    "saved",
    "cycled",
    "flushed",
    "expired",
    "revoked",
    "store_error",
    "bad_cookie",
    "dbsc_bound",
    "dbsc_refreshed",
    "dbsc_forged",
    "dbsc_refused",
    "dbsc_skipped",
]


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One thing that happened to a session."""

    kind: EventKind
    store: str
    """The store's class name."""
    key_hash: str | None
    duration: float
    """Seconds spent in the store (0.0 for events without I/O)."""
    error: BaseException | None = None
    count: int = 1
    """How many sessions the event covers (``revoked`` may end several)."""


EventHook = Callable[[SessionEvent], None]


def emit(
    hooks: Sequence[EventHook],
    kind: EventKind,
    store: object,
    key: str | None = None,
    started: float | None = None,
    error: BaseException | None = None,
    count: int = 1,
) -> None:
    """Build the event and hand it to every hook (callers check ``hooks`` first)."""
    event = SessionEvent(
        kind=kind,
        store=type(store).__name__,
        key_hash=hash_key(key) if key else None,
        duration=time.perf_counter() - started if started is not None else 0.0,
        error=error,
        count=count,
    )
    for hook in hooks:
        hook(event)
