"""The per-request ``Session``: a mapping plus a change set, and no I/O of its own.

Reads and writes touch only memory. What the request did is kept as a change
set (keys written, keys deleted, cleared, flushed, cycled) that a store applies
atomically at commit. The commit itself is :meth:`Session._commit_steps`, a
generator of store operations: the async and sync edges (``save`` and
``save_sync``, and the middlewares through them) only run the operations it
yields, so both paths share one implementation of the rules.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Generator, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from . import _serialization
from ._clock import from_timestamp, to_timestamp
from ._keys import hash_key, is_valid_key, new_key
from .events import EventHook, EventKind, emit
from .exceptions import SessionKeyExists, SessionTooLarge, StoreError, UnserializableValue
from .stores.base import Change, SessionRecord

if TYPE_CHECKING:
    from .config import SessionConfig
    from .stores.base import Store

__all__ = ["Session"]

security_logger = logging.getLogger("sessionary.security")

_MISSING: Any = object()
_MUTABLE = (dict, list)
# Meta entries kept beside user data (never inside it).
_EXPIRY = "exp"  # int seconds (0: browser close) re-applied on every save
_EXPIRY_AT = "exp_at"  # a fixed deadline, epoch seconds

# One store operation: (method name, positional arguments, event on success).
# The async edge awaits ``getattr(store, name)(*args)``; the sync edge calls
# ``name + "_sync"``.
Step = tuple[str, tuple[Any, ...], EventKind | None]


class Session(MutableMapping[str, Any]):
    """A visitor's session: a ``MutableMapping[str, Any]`` with Django's semantics."""

    __slots__ = (
        "_cleared",
        "_client",
        "_config",
        "_cookie",
        "_cycled",
        "_dead_keys",
        "_deleted",
        "_forced",
        "_gone",
        "_key",
        "_meta",
        "_modified",
        "_persist",
        "_raw",
        "_record",
        "_saved",
        "_set",
        "_size",
        "_store",
        "_values",
        "_watch",
        "accessed",
    )

    def __init__(
        self,
        config: SessionConfig,
        session_key: str | None = None,
        *,
        record: SessionRecord | None = None,
        client: dict[str, str] | None = None,
    ) -> None:
        """A session over ``config.store``.

        With ``record`` (as the middleware passes it) the session starts
        loaded; with only ``session_key``, call :meth:`load` or
        :meth:`load_sync` before reading. ``client`` holds the user agent and
        address ("ua", "ip") recorded on new records for the per-user index.
        """
        self._config = config
        self._store: Store = config.store
        self._client = client
        self.accessed = False
        self._modified = False
        self._forced = False
        self._persist = True
        self._saved = False
        self._gone = False
        self._dead_keys: list[tuple[str, EventKind]] = []
        self._cookie: str | None = None  # a client-side store's sealed record
        self._reset(session_key, record)

    def _reset(self, key: str | None, record: SessionRecord | None) -> None:
        self._key = key
        self._record = record
        self._raw: dict[str, str] = dict(record.data) if record is not None else {}
        self._meta: dict[str, Any] = dict(record.meta) if record is not None else {}
        self._values: dict[str, Any] = {}
        self._watch: dict[str, str] = {}
        self._set: dict[str, str] = {}
        self._deleted: set[str] = set()
        self._cleared = False
        self._cycled = False
        self._size = -1

    # -- state flags -----------------------------------------------------------

    @property
    def modified(self) -> bool:
        return self._modified

    @modified.setter
    def modified(self, value: bool) -> None:
        # Set by the app after mutating a nested value: every key read this
        # request joins the change set at commit.
        self._modified = value
        self._forced = value

    @property
    def session_key(self) -> str | None:
        return self._key

    def is_empty(self) -> bool:
        """No key and no data."""
        return not self._key and not self._raw

    # -- reading ---------------------------------------------------------------

    def _value(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            pass
        raw = self._raw[name]
        try:
            value = _serialization.decode(raw)
        except ValueError:
            # Only a tampered store holds undecodable text: drop the key, loudly.
            security_logger.warning("session value %r could not be decoded; dropped", name)
            del self._raw[name]
            raise KeyError(name) from None
        self._values[name] = value
        if isinstance(value, _MUTABLE):
            self._watch[name] = raw
        return value

    def __getitem__(self, name: str) -> Any:
        self.accessed = True
        return self._value(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.accessed = True
        if name not in self._raw:
            return default
        try:
            return self._value(name)
        except KeyError:  # an undecodable value, dropped
            return default

    def __contains__(self, name: object) -> bool:
        self.accessed = True
        return name in self._raw

    def __len__(self) -> int:
        self.accessed = True
        return len(self._raw)

    def __iter__(self) -> Iterator[str]:
        self.accessed = True
        return iter(list(self._raw))

    def keys(self) -> list[str]:  # type: ignore[override]
        self.accessed = True
        return list(self._raw)

    def values(self) -> list[Any]:  # type: ignore[override]
        self.accessed = True
        return [value for _, value in self._pairs()]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        self.accessed = True
        return self._pairs()

    def _pairs(self) -> list[tuple[str, Any]]:
        pairs = []
        for name in list(self._raw):
            value = self.get(name, _MISSING)
            if value is not _MISSING:
                pairs.append((name, value))
        return pairs

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Session):
            return dict(self.items()) == dict(other.items())
        if isinstance(other, dict):
            return dict(self.items()) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Never the key: repr ends up in logs and tracebacks.
        return f"<Session keys={sorted(self._raw)!r} modified={self._modified}>"

    # -- writing ---------------------------------------------------------------

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"session keys are strings, not {type(name).__name__}")
        try:
            raw = _serialization.encode(value)
        except TypeError:
            raise UnserializableValue(name, value) from None
        # Refuse here, where the app can catch it, rather than at commit.
        old = self._raw.get(name)
        size = self.encoded_size() + len(raw) - (len(name) + len(old) if old is not None else 0)
        size += len(name)
        if size > self._config.max_session_bytes:
            raise SessionTooLarge(size, self._config.max_session_bytes)
        self.accessed = True
        self._modified = True
        self._raw[name] = raw
        self._values[name] = value
        self._set[name] = raw
        self._deleted.discard(name)
        if isinstance(value, _MUTABLE):
            self._watch[name] = raw
        else:
            self._watch.pop(name, None)
        self._size = size

    def __delitem__(self, name: str) -> None:
        self.accessed = True
        del self._raw[name]
        self._values.pop(name, None)
        self._watch.pop(name, None)
        self._set.pop(name, None)
        self._deleted.add(name)
        self._modified = True
        self._size = -1

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        self.accessed = True
        if name not in self._raw:
            if default is _MISSING:
                raise KeyError(name)
            return default
        value = self._value(name)
        del self[name]
        return value

    def setdefault(self, name: str, default: Any = None) -> Any:
        self.accessed = True
        if name in self._raw:
            return self._value(name)
        self[name] = default
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value

    def popitem(self) -> tuple[str, Any]:
        self.accessed = True
        if not self._raw:
            raise KeyError("popitem(): session is empty")
        name = next(reversed(self._raw))
        return name, self.pop(name)

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def clear(self) -> None:
        """Remove all data and keep the key (the cookie is sent again)."""
        self.accessed = True
        self._modified = True
        self._raw.clear()
        self._values.clear()
        self._watch.clear()
        self._set.clear()
        self._deleted.clear()
        self._cleared = True
        self._size = -1

    def flush(self) -> None:
        """Remove all data, delete the stored record at commit, and drop the key."""
        self.clear()
        if self._key is not None and self._record is not None:
            self._dead_keys.append((self._key, "flushed"))
        self._key = None
        self._record = None
        self._meta = {}
        self._cleared = False

    def cycle_key(self) -> None:
        """Move the data to a fresh key; the old record is deleted at commit."""
        self.accessed = True
        self._modified = True
        if self._key is not None and self._record is not None:
            self._dead_keys.append((self._key, "cycled"))
        self._key = new_key()
        self._record = None
        self._cycled = True

    # -- expiry ----------------------------------------------------------------

    def set_expiry(self, value: int | dt.datetime | dt.timedelta | None) -> None:
        """Set this session's expiry, as Django does.

        An ``int`` (or ``timedelta``) is seconds of inactivity, re-applied on
        every save; ``0`` makes the cookie a browser-session cookie; a
        ``datetime`` is a fixed deadline; ``None`` returns to the global policy.
        """
        self.accessed = True
        self._modified = True
        self._meta.pop(_EXPIRY, None)
        self._meta.pop(_EXPIRY_AT, None)
        if value is None:
            return
        if isinstance(value, dt.timedelta):
            value = int(value.total_seconds())
        if isinstance(value, dt.datetime):
            self._meta[_EXPIRY_AT] = to_timestamp(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            self._meta[_EXPIRY] = value
        else:
            raise TypeError(f"set_expiry() takes int, datetime, timedelta or None, not {value!r}")

    def _expiry_age(self, now: float) -> float:
        deadline = self._meta.get(_EXPIRY_AT)
        if deadline is not None:
            return max(0.0, float(deadline) - now)
        seconds = self._meta.get(_EXPIRY)
        return float(seconds) if seconds else float(self._config.cookie_age)

    def get_expiry_age(self) -> int:
        """Seconds until the session expires, counted from now."""
        return int(self._expiry_age(self._store.clock()))

    def get_expiry_date(self) -> dt.datetime:
        """When the session expires (aware UTC)."""
        now = self._store.clock()
        return from_timestamp(now + self._expiry_age(now))

    def get_expire_at_browser_close(self) -> bool:
        if _EXPIRY_AT in self._meta:
            return False
        seconds = self._meta.get(_EXPIRY)
        if seconds is None:
            return self._config.expire_at_browser_close
        return bool(seconds == 0)

    # -- metadata --------------------------------------------------------------

    @property
    def created_at(self) -> dt.datetime | None:
        return from_timestamp(self._record.created) if self._record is not None else None

    @property
    def last_seen(self) -> dt.datetime | None:
        return from_timestamp(self._record.last_seen) if self._record is not None else None

    @property
    def expires_at(self) -> dt.datetime | None:
        return from_timestamp(self._record.expires) if self._record is not None else None

    @property
    def key_hash(self) -> str | None:
        """The one-way hash under which the store keeps this session."""
        return hash_key(self._key) if self._key is not None else None

    @property
    def user_id(self) -> str | None:
        """The user bound by :func:`sessionary.auth.login`, if any."""
        user = self._meta.get("uid", _MISSING)
        if user is not _MISSING:
            return user  # type: ignore[no-any-return]
        return self._record.user_id if self._record is not None else None

    def _bind_user(self, user_id: str | None) -> None:
        # auth's entry point: the user id is a record column (for the
        # per-user index), staged in meta until commit.
        self._meta["uid"] = user_id
        self._modified = True
        self.accessed = True

    def _get_meta(self, name: str) -> Any:
        return self._meta.get(name)

    def _set_meta(self, name: str, value: Any) -> None:
        self._meta[name] = value
        self._modified = True

    # -- commit ----------------------------------------------------------------

    @property
    def should_save(self) -> bool:
        """Whether a commit now would write (modified, or saved on every request)."""
        if self.is_empty() or not self._persist or self._gone:
            return False
        return self._modified or self._config.save_every_request or self._needs_touch()

    def _needs_touch(self) -> bool:
        # With an idle timeout, activity must reach the store, but not on
        # every request: refresh last-seen once a tenth of the timeout passed.
        idle = self._config.idle_timeout
        record = self._record
        if idle is None or record is None:
            return False
        return self._store.clock() - record.last_seen >= min(60.0, idle / 10)

    def _collect_nested(self) -> None:
        # Values read and then mutated in place join the change set.
        for name, before in self._watch.items():
            if name in self._raw:
                raw = _serialization.encode(self._values[name])
                if raw != before:
                    self._raw[name] = raw
                    self._set[name] = raw
                    self._modified = True
                    self._size = -1
        if self._forced:
            for name in self._values:
                if name in self._raw:
                    self._set[name] = self._raw[name] = _serialization.encode(self._values[name])

    def encoded_size(self) -> int:
        """Bytes of the encoded data (what ``max_session_bytes`` limits)."""
        if self._size < 0:
            self._size = sum(len(k) + len(v) for k, v in self._raw.items())
        return self._size

    def _deadline(self, now: float, created: float) -> float:
        expires = now + self._expiry_age(now)
        config = self._config
        if config.idle_timeout is not None:
            expires = min(expires, now + config.idle_timeout)
        if config.absolute_timeout is not None:
            expires = min(expires, created + config.absolute_timeout)
        return expires

    def _commit_steps(self, *, save: bool = True) -> Generator[Step, Any, None]:
        """Yield the store operations that commit this request's changes.

        Dead keys (from ``flush`` and ``cycle_key``) are always deleted; the
        data is written only when ``save`` is true and :attr:`should_save`.
        """
        for dead, why in self._dead_keys:
            yield ("delete", (dead,), why)
        self._dead_keys.clear()
        if not save:
            return
        self._collect_nested()
        if not self.should_save:
            return
        size = self.encoded_size()
        if size > self._config.max_session_bytes:
            raise SessionTooLarge(size, self._config.max_session_bytes)
        now = self._store.clock()
        meta_uid = self._meta.pop("uid", _MISSING)
        if self._record is None:
            yield from self._create(now, meta_uid)
        else:
            yield from self._update(now, meta_uid)
        self._saved = True

    def _create(self, now: float, user: Any) -> Generator[Step, Any, None]:
        meta = dict(self._meta)
        if self._client:
            meta.update({k: v for k, v in self._client.items() if v})
        user_id = None if user is _MISSING else user
        key = self._key
        if key is None or not is_valid_key(key):
            key = new_key()
        while True:
            record = SessionRecord(
                key_hash="",
                data=dict(self._raw),
                created=now,
                last_seen=now,
                expires=self._deadline(now, now),
                user_id=user_id,
                version=1,
                meta=meta,
            )
            try:
                yield ("save", (key, record, True), "created")
            except SessionKeyExists:
                key = new_key()  # 165 random bits collided: astonishing, but handled
                continue
            break
        if self._store.client_side:
            self._cookie = yield ("seal", (key, record), None)
        self._after_commit(key, record)

    def _update(self, now: float, user: Any) -> Generator[Step, Any, None]:
        base = self._record
        if base is None or self._key is None:
            raise RuntimeError("_update needs a loaded record")
        changed_meta = {k: v for k, v in self._meta.items() if base.meta.get(k) != v}
        for name in base.meta:
            if name not in self._meta:
                changed_meta[name] = None
        change = Change(
            set=self._set,
            delete=frozenset(self._deleted),
            last_seen=now,
            expires=self._deadline(now, base.created),
            clear=self._cleared,
            meta=changed_meta,
            set_user=user is not _MISSING,
            user_id=None if user is _MISSING else user,
        )
        key = self._key
        record = yield ("apply", (key, change, base), "saved")
        if record is None:
            # Deleted (logout, revoke, expiry) by someone else meanwhile: the
            # change is dropped and no cookie may point at the dead key.
            self._gone = True
            self._reset(None, None)
            return
        if self._store.client_side:
            self._cookie = yield ("seal", (key, record), None)
        self._after_commit(key, record)

    def _after_commit(self, key: str, record: SessionRecord) -> None:
        values, watch = self._values, self._watch
        self._reset(key, record)
        # Keep decoded values and their watch marks: the app may read again.
        self._values = values
        self._watch = {name: self._raw[name] for name in watch if name in self._raw}
        self._modified = False
        self._forced = False

    def _load_steps(self) -> Generator[Step, Any, None]:
        key = self._key
        record = None
        if key is not None and is_valid_key(key):
            record = yield from _load_one(key)
        self._reset(key if record is not None else None, record)

    # -- I/O edges, for code outside a request -----------------------------------

    async def load(self) -> None:
        """Read this session's record from the store (dropping unsaved changes)."""
        await _run_async(self._store, self._load_steps(), self._config.event_hooks)

    def load_sync(self) -> None:
        _run_sync(self._store, self._load_steps(), self._config.event_hooks)

    async def save(self) -> None:
        """Commit now; the middleware will not save these changes again."""
        await _run_async(self._store, self._commit_steps(), self._config.event_hooks)

    def save_sync(self) -> None:
        _run_sync(self._store, self._commit_steps(), self._config.event_hooks)

    reload = load
    reload_sync = load_sync


def _load_one(key: str) -> Generator[Step, Any, SessionRecord | None]:
    record: SessionRecord | None = yield ("load", (key,), "loaded")
    return record


async def _run_async(
    store: Store, steps: Generator[Step, Any, Any], hooks: Sequence[EventHook] = ()
) -> Any:
    """Run ``steps`` against the async store API; return what the steps return."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            name, args, event = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value
        error = None
        started = time.perf_counter() if hooks else None
        try:
            if name == "save":
                await store.save(args[0], args[1], must_create=args[2])
                result = None
            else:
                result = await getattr(store, name)(*args)
        except SessionKeyExists as exc:
            error = exc
            continue
        except StoreError as exc:
            if hooks:
                emit(hooks, "store_error", store, args[0], started, exc)
            raise
        if hooks and event is not None:
            _emit_step(hooks, store, name, args, event, result, started)


def _run_sync(
    store: Store, steps: Generator[Step, Any, Any], hooks: Sequence[EventHook] = ()
) -> Any:
    """Run ``steps`` against the sync store API; return what the steps return."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            name, args, event = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value
        error = None
        started = time.perf_counter() if hooks else None
        try:
            if name == "save":
                store.save_sync(args[0], args[1], must_create=args[2])
                result = None
            else:
                result = getattr(store, name + "_sync")(*args)
        except SessionKeyExists as exc:
            error = exc
            continue
        except StoreError as exc:
            if hooks:
                emit(hooks, "store_error", store, args[0], started, exc)
            raise
        if hooks and event is not None:
            _emit_step(hooks, store, name, args, event, result, started)


def _emit_step(
    hooks: Sequence[EventHook],
    store: Store,
    name: str,
    args: tuple[Any, ...],
    event: EventKind,
    result: Any,
    started: float | None,
) -> None:
    # A load or apply that finds no live record means the session is gone.
    found = result is not None or name not in ("load", "apply")
    emit(hooks, event if found else "expired", store, args[0], started)
