"""The one request lifecycle: open -> (the app runs) -> commit.

Every edge (the ASGI and WSGI middlewares, Flask, Django) translates its
framework's request into an :class:`~sessionary._core.Incoming`, calls
:func:`open_async`/:func:`open_sync`, runs the app, and calls
:func:`commit_async`/:func:`commit_sync` with the response status (or
``None`` when the response never started). What happens when the store is
down (``on_store_error``) and the 503 response are decided here and nowhere
else.

The rules are written once, as steps (:func:`open_plan`, :func:`commit_plan`)
that the runners of ``_ops`` execute on the async or the sync store API.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from . import _core, _rotation
from ._keys import new_key
from ._ops import Load, Steps, run_async, run_sync
from ._rotation import MARKER
from ._session import Session
from .exceptions import CorruptRecord, SessionTooLarge, StoreDataError, StoreError

if TYPE_CHECKING:
    from ._config import SessionConfig
    from .stores.base import SessionRecord

__all__ = [
    "Opened",
    "Outcome",
    "Unavailable",
    "check_async",
    "commit_async",
    "commit_plan",
    "commit_sync",
    "needs_commit",
    "open_async",
    "open_keyless",
    "open_plan",
    "open_sync",
    "too_large_outcome",
]

logger = logging.getLogger("sessionary")
security_logger = logging.getLogger("sessionary.security")


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The store failed and ``on_store_error`` is ``"fail"``: answer 503 with these parts."""

    error: StoreError
    status: ClassVar[int] = 503
    reason: ClassVar[str] = "Service Unavailable"
    body: ClassVar[bytes] = b"Service Unavailable: the session store did not answer."
    headers: ClassVar[tuple[tuple[str, str], ...]] = (
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Retry-After", "5"),
    )


@dataclass(slots=True)
class Opened:
    """A request's session, opened: hand it to the app, then to :func:`commit_plan`.

    With ``unavailable`` set the edge answers 503 without running the app
    (``session`` is then a blank session that is never saved).
    """

    session: Session
    incoming: _core.Incoming
    unavailable: Unavailable | None = None


@dataclass(slots=True)
class Outcome:
    """What the response needs: headers to add, or a 503 in its place.

    A value, as the operations of ``_ops`` are, and not frozen for the same reason.
    """

    headers: list[tuple[str, str]] = field(default_factory=list)
    unavailable: Unavailable | None = None


def open_plan(
    config: SessionConfig,
    incoming: _core.Incoming,
    session_class: type[Session] = Session,
    *,
    degrade: bool = True,
) -> Steps[Opened]:
    """Load the record the client named and open the request's session.

    ``degrade=False`` refuses the request on a store failure whatever
    ``on_store_error`` says (a WebSocket has no response to carry a new cookie).
    """
    record = None
    degraded = False
    if incoming.key is not None:
        try:
            record = yield Load(incoming.key)
        except CorruptRecord:
            security_logger.warning("a corrupted session record was ignored")
        except StoreError as exc:
            if config.on_store_error == "fail" or not degrade:
                _report("session store failed on load", exc)
                blank = session_class(config, None)
                blank.mark_unpersisted()
                return Opened(blank, incoming, Unavailable(exc))
            logger.warning("session store failed on load; serving a blank session")
            degraded = True
    if record is not None and MARKER in record.meta and incoming.key is not None:
        return (yield from _follow(config, incoming, incoming.key, record, session_class))
    session = _core.open_session(config, incoming, record, session_class)
    if degraded:
        session.mark_unpersisted()
    return Opened(session, incoming)


def _follow(
    config: SessionConfig,
    incoming: _core.Incoming,
    key: str,
    record: SessionRecord,
    session_class: type[Session],
) -> Steps[Opened]:
    # The key was rotated: within the grace window, its successor's session.
    moved = yield from _rotation.follow(config, key, record, incoming.client)
    if moved is None:
        return Opened(_core.open_session(config, incoming, None, session_class), incoming)
    successor = _core.Incoming(moved[0], True, incoming.client, incoming.chunks)
    session = _core.open_session(config, successor, moved[1], session_class)
    if session.session_key is not None:
        session.serve_successor()
    return Opened(session, incoming)


def commit_plan(config: SessionConfig, opened: Opened, status: int | None) -> Steps[Outcome]:
    """Commit the session for a response of ``status``.

    A 5xx saves nothing but still deletes the records that ``flush`` and
    ``cycle_key`` ended; so does ``status=None``, a response that never
    started (the app raised): a logout is never undone by a crash.
    """
    session = opened.session
    if opened.unavailable is not None:
        return Outcome(unavailable=opened.unavailable)
    offer = None
    if config.dbsc is not None and status is not None and status < 500:
        # Before the commit, which replaces the record the offer is compared with.
        from ._dbsc.offer import registration_header

        offer = registration_header(config, session)
    try:
        yield from session.commit_plan(save=status is not None and status < 500)
    except (SessionTooLarge, StoreDataError) as exc:
        # Growth no assignment could see (a nested value appended to in place),
        # or a value the store refused: data errors, not outages.
        _not_saved(session, exc)
    except StoreError as exc:
        if status is None:
            # The app's own exception is on its way: report, do not replace it.
            _report("session store failed while ending a failed request", exc)
            return Outcome()
        if config.on_store_error == "fail":
            _report("session store failed on save", exc)
            return Outcome(unavailable=Unavailable(exc))
        logger.warning("session store failed on save; session not kept")
        session.mark_unpersisted()
    if status is None:
        return Outcome()
    headers = _core.response_headers(config, session, opened.incoming)
    if offer is not None and session.was_saved:
        headers.append(offer)
    return Outcome(headers)


def _not_saved(session: Session, exc: SessionTooLarge | StoreDataError) -> None:
    # The app has answered: the response goes out and the client keeps its
    # previous session, rather than a 500 after the fact.
    logger.error("session not saved: %s", exc)
    session.mark_unpersisted()


def too_large_outcome(config: SessionConfig, opened: Opened, exc: SessionTooLarge) -> Outcome:
    """The outcome when the store refused the record's size at save (a data error,
    not an outage): logged, not saved, the previous cookie left in place.

    The async edge catches ``SessionTooLarge`` around :func:`commit_async`
    and calls this (a wrapper coroutine here would cost every request a frame).
    """
    _not_saved(opened.session, exc)
    return Outcome(_core.response_headers(config, opened.session, opened.incoming))


def open_keyless(
    config: SessionConfig, incoming: _core.Incoming, session_class: type[Session] = Session
) -> Opened:
    """:func:`open_plan` for a request that names no record (``incoming.key`` is
    ``None``): there is nothing to load, so no store runner is needed."""
    return Opened(_core.open_session(config, incoming, None, session_class), incoming)


def needs_commit(config: SessionConfig, opened: Opened) -> bool:
    """Whether :func:`commit_plan` could write, delete or add a header.

    ``False`` for a request that came without a session and never touched
    it: every change (a write, ``flush``, ``cycle_key``, a login) marks the
    session accessed or modified, and with no record there is nothing to
    refresh; the URL transport adds a header to every response.
    """
    session = opened.session
    return (
        session.accessed
        or session.modified
        or opened.incoming.had_cookie
        or opened.unavailable is not None
        or config.save_every_request
        or config.transport == "url"
    )


def _report(what: str, exc: StoreError) -> None:
    # One line that says what to do (the stores' errors name the fix, such as
    # "run 'sessionary migrate'"); the traceback only when debugging, not on
    # every request of an outage.
    logger.error("%s: %s", what, exc, exc_info=logger.isEnabledFor(logging.DEBUG))


def open_async(
    config: SessionConfig,
    incoming: _core.Incoming,
    session_class: type[Session] = Session,
    *,
    degrade: bool = True,
) -> Coroutine[Any, Any, Opened]:
    """:func:`open_plan` on the async store API (await the result)."""
    steps = open_plan(config, incoming, session_class, degrade=degrade)
    return run_async(config.store, steps, config.event_hooks)


def open_sync(
    config: SessionConfig,
    incoming: _core.Incoming,
    session_class: type[Session] = Session,
    *,
    degrade: bool = True,
) -> Opened:
    """:func:`open_plan` on the sync store API."""
    steps = open_plan(config, incoming, session_class, degrade=degrade)
    return run_sync(config.store, steps, config.event_hooks)


def commit_async(
    config: SessionConfig, opened: Opened, status: int | None
) -> Coroutine[Any, Any, Outcome]:
    """:func:`commit_plan` on the async store API (await the result)."""
    return run_async(config.store, commit_plan(config, opened, status), config.event_hooks)


def commit_sync(config: SessionConfig, opened: Opened, status: int | None) -> Outcome:
    """:func:`commit_plan` on the sync store API."""
    try:
        return run_sync(config.store, commit_plan(config, opened, status), config.event_hooks)
    except SessionTooLarge as exc:
        return too_large_outcome(config, opened, exc)


def _probe() -> Steps[None]:
    # A key no record has: the cheapest round trip that proves the store can
    # serve (its table exists, its server answers).
    yield Load(new_key())


async def check_async(config: SessionConfig) -> bool:
    """Read once from the store at start-up; ``False``, with one log line, when it cannot serve.

    A missing table or a server that is down is then said before the first
    request, naming the fix, instead of being found by it. The embedded
    default creates its table here (its first use).
    """
    try:
        await run_async(config.store, _probe())
    except StoreError as exc:
        logger.error("session store not ready at start-up: %s", exc)
        return False
    return True
