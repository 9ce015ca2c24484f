"""Typed store operations and the two small runners that execute them.

The session's rules (what to load, create, apply or delete at commit) are
written once, as generators that yield these operations and receive their
results: a sans-I/O step machine. :func:`run_async` executes the steps on
the async store API (ASGI), :func:`run_sync` on the sync one (WSGI, Flask,
Django, the CLI). A store error is thrown back into the steps, so the code
that decides what an error means (``SessionKeyExists`` on create, the
``on_store_error`` policy in ``_lifecycle``) is also written once.

Each operation says what it returns when sent back into the steps:

==========  ==============================================================
``Load``    the live :class:`SessionRecord`, or ``None``
``Create``  what the client carries for the new record (:meth:`Store.carry`)
``Apply``   an :class:`Applied` (record and what the client carries), or
            ``None`` when the record was deleted meanwhile
``Delete``  ``None``
==========  ==============================================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .events import EventHook, EventKind, emit
from .exceptions import SessionKeyExists, StoreError
from .stores.base import Change, SessionRecord, Store

__all__ = [
    "Applied",
    "Apply",
    "Create",
    "Delete",
    "Load",
    "Op",
    "Steps",
    "migrate_on_first_use",
    "run_async",
    "run_sync",
]

T = TypeVar("T")

# The operations are values: nothing changes one once made. They are not
# frozen dataclasses all the same, as a frozen __init__ pays an
# object.__setattr__ call per field, and every request makes three or four.


@dataclass(slots=True)
class Load:
    """Read the live record for ``key``; ``report=False``: no event (a claim, not a session)."""

    key: str
    report: bool = True


@dataclass(slots=True)
class Create:
    """Write ``record`` under a fresh ``key``; ``SessionKeyExists`` if it is taken.

    ``report=False``: no event on success (a claim, not a session).
    """

    key: str
    record: SessionRecord
    report: bool = True


@dataclass(slots=True)
class Apply:
    """Apply ``change`` atomically to the current record (``base``: as loaded).

    ``why`` names the event reported on success when it is not ``saved``
    (a rotation marking the old key reports ``cycled``).
    """

    key: str
    change: Change
    base: SessionRecord
    why: EventKind | None = None


@dataclass(slots=True)
class Delete:
    """Delete the record for ``key``; ``why`` is the event reported on success.

    ``report=False``: no event (a claim, not a session).
    """

    key: str
    why: EventKind
    report: bool = True


@dataclass(slots=True)
class Applied:
    """The result of an :class:`Apply` that found its record."""

    record: SessionRecord
    carried: str


Op = Load | Create | Apply | Delete
Steps = Generator[Op, Any, T]
"""Steps that yield operations and finally return a ``T``."""


# Stores whose schema is created the first time a runner uses them (the
# embedded SQLite default: zero configuration). Once per process, not per request.
# A plain set (not a WeakSet, whose truth test is Python code): the runners
# test it on every call.
_UNMIGRATED: set[Store] = set()
_MIGRATING = threading.Lock()


def migrate_on_first_use(store: Store) -> Store:
    """Have the runners create ``store``'s schema before they first use it."""
    _UNMIGRATED.add(store)
    return store


# A failed migration (a read-only directory, a locked file) is left for the
# next request to retry; meanwhile the operations themselves fail and the
# lifecycle's store-error policy answers.


def _migrate_sync(store: Store) -> None:
    with _MIGRATING:
        if store in _UNMIGRATED:
            try:
                store.migrate_sync()
            except StoreError:
                return
            _UNMIGRATED.discard(store)


async def _migrate_async(store: Store) -> None:
    try:
        # Safe to run twice if two first requests race: migrate is idempotent.
        await store.migrate()
    except StoreError:
        return
    _UNMIGRATED.discard(store)


async def run_async(store: Store, steps: Steps[T], hooks: Sequence[EventHook] = ()) -> T:
    """Run ``steps`` against the async store API and return what they return.

    An :attr:`~sessionary.stores.base.Store.inline` store never waits: its
    sync API runs the steps, with no coroutine per operation.
    """
    if store.inline:
        return run_sync(store, steps, hooks)
    if _UNMIGRATED and store in _UNMIGRATED:
        await _migrate_async(store)
    result: Any = None
    error: StoreError | None = None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        started = time.perf_counter() if hooks else None
        # Dispatch on the exact type (the operations are final): cheaper than
        # class patterns, which test and unpack each case in turn.
        try:
            if type(op) is Load:
                result = await store.load(op.key)
            elif type(op) is Apply:
                applied = await store.apply(op.key, op.change, op.base)
                result = None if applied is None else _applied(store, op.key, applied)
            elif type(op) is Create:
                await store.save(op.key, op.record, must_create=True)
                result = store.carry(op.key, op.record) if store.client_side else op.key
            elif type(op) is Delete:
                await store.delete(op.key)
                result = None
        except StoreError as exc:
            error = _failed(hooks, store, op, started, exc)
            continue
        if hooks:
            _succeeded(hooks, store, op, result, started)


def run_sync(store: Store, steps: Steps[T], hooks: Sequence[EventHook] = ()) -> T:
    """Run ``steps`` against the sync store API and return what they return."""
    if _UNMIGRATED and store in _UNMIGRATED:
        _migrate_sync(store)
    result: Any = None
    error: StoreError | None = None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        started = time.perf_counter() if hooks else None
        try:
            if type(op) is Load:
                result = store.load_sync(op.key)
            elif type(op) is Apply:
                applied = store.apply_sync(op.key, op.change, op.base)
                result = None if applied is None else _applied(store, op.key, applied)
            elif type(op) is Create:
                store.save_sync(op.key, op.record, must_create=True)
                result = store.carry(op.key, op.record) if store.client_side else op.key
            elif type(op) is Delete:
                store.delete_sync(op.key)
                result = None
        except StoreError as exc:
            error = _failed(hooks, store, op, started, exc)
            continue
        if hooks:
            _succeeded(hooks, store, op, result, started)


def _applied(store: Store, key: str, record: SessionRecord) -> Applied:
    # A server-side store carries the key (Store.carry's default): skip the
    # call on the hot path.
    return Applied(record, store.carry(key, record) if store.client_side else key)


def _failed(
    hooks: Sequence[EventHook], store: Store, op: Op, started: float | None, exc: StoreError
) -> StoreError:
    # A taken key is the create's normal retry path, not an outage.
    if hooks and not isinstance(exc, SessionKeyExists):
        emit(hooks, "store_error", store, op.key, started, exc)
    return exc


_EVENT: dict[type[Op], EventKind] = {Load: "loaded", Create: "created", Apply: "saved"}


def _succeeded(
    hooks: Sequence[EventHook], store: Store, op: Op, result: Any, started: float | None
) -> None:
    if isinstance(op, Load | Create | Delete) and not op.report:
        return
    if isinstance(op, Delete):
        emit(hooks, op.why, store, op.key, started)
        return
    # A load or apply that finds no live record means the session is gone.
    if result is None and not isinstance(op, Create):
        kind: EventKind = "expired"
    else:
        kind = op.why if isinstance(op, Apply) and op.why else _EVENT[type(op)]
    emit(hooks, kind, store, op.key, started)
