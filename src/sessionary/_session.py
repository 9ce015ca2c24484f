"""The per-request ``Session``: a mapping plus a change set, and no I/O of its own.

Reads and writes touch only memory. What the request did is kept as a change
set (keys written, keys deleted, cleared, flushed, cycled) that a store applies
atomically at commit. The commit is :meth:`Session.commit_plan`, a generator
of typed store operations (``sessionary._ops``): the runners there execute
them on the async or the sync store API, so both paths share one
implementation of the rules. The request lifecycle (``sessionary._lifecycle``)
drives the session through the small named API below; no other module
touches its underscore names.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import _rotation, _serialization
from ._clock import from_timestamp, to_timestamp
from ._dbsc.binding import BINDING as DBSC_BINDING
from ._keys import hash_key, is_valid_key, new_key
from ._ops import Applied, Apply, Create, Delete, Load, Steps, run_async, run_sync
from ._rotation import MARKER
from .events import EventKind
from .exceptions import SessionKeyExists, SessionTooLarge, UnserializableValue
from .stores.base import Change, SessionRecord

if TYPE_CHECKING:
    from ._config import SessionConfig

__all__ = ["Session"]

security_logger = logging.getLogger("sessionary.security")

_MISSING: Any = object()
# The real dict storage, reached past this class's overrides (see Session).
_dict_set = dict.__setitem__
_dict_del = dict.__delitem__
_dict_clear = dict.clear
_dict_update = dict.update
_dict_len = dict.__len__
_MUTABLE = (dict, list)
_NOTHING: frozenset[str] = frozenset()
# Meta entries kept beside user data (never inside it).
_EXPIRY = "exp"  # int seconds (0: browser close) re-applied on every save
_EXPIRY_AT = "exp_at"  # a fixed deadline, epoch seconds


class Session(dict[str, Any]):
    """A visitor's session: a mutable mapping with Django's semantics.

    It is a ``dict`` subclass so that ``json.dumps(session)`` (and Starlette's
    ``JSONResponse``) serialise it as the dict it looks like: the C encoder
    reads the real dict's size and then calls :meth:`items`. The real dict
    storage therefore mirrors the encoded data (key -> JSON text); the
    decoded values and the change set live in the slots below, and every
    mapping method is this class's own.
    """

    __slots__ = (
        "_carried",
        "_clear_site",
        "_cleared",
        "_client",
        "_config",
        "_cycled",
        "_dead_keys",
        "_deleted",
        "_followed",
        "_forced",
        "_gone",
        "_key",
        "_limit",
        "_meta",
        "_modified",
        "_origin",
        "_persist",
        "_predecessor",
        "_raw",
        "_record",
        "_saved",
        "_set",
        "_size",
        "_values",
        "_watch",
        "accessed",
    )

    # One value's stored text. An integration may speak its framework's
    # dialect (Flask's tagged JSON) by overriding both in a subclass.
    encode_value = staticmethod(_serialization.encode)
    decode_value = staticmethod(_serialization.decode)

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
        self._client = client
        self._limit = -1  # bytes, worked out on the first write
        self.accessed = False
        self._modified = False
        self._forced = False
        self._persist = True
        self._saved = False
        self._gone = False
        self._clear_site = False
        self._dead_keys: list[tuple[str, EventKind]] = []
        # The key and record cycle_key() moved away from, ended at commit.
        self._predecessor: tuple[str, SessionRecord] | None = None
        self._followed = False  # opened as a rotated key's successor
        self._carried: str | None = None  # what the client carries, once committed
        self._reset(session_key, record)

    def _reset(self, key: str | None, record: SessionRecord | None) -> None:
        self._key = key
        self._record = record
        self._raw: dict[str, str] = dict(record.data) if record is not None else {}
        if self._raw or _dict_len(self):
            _dict_clear(self)
            _dict_update(self, self._raw)
        self._values: dict[str, Any] = {}
        self._watch: dict[str, str] = {}
        self._size = -1
        self._forget_changes(record)

    def _forget_changes(self, record: SessionRecord | None) -> None:
        """Start a new change set over ``record`` (whose data this session holds)."""
        self._meta: dict[str, Any] = dict(record.meta) if record is not None else {}
        self._set: dict[str, str] = {}
        self._deleted: set[str] = set()
        self._cleared = False
        self._cycled = False
        # What a rotation carries to the new key: the record's creation time
        # (the absolute timeout counts from it) and its bound user.
        self._origin: tuple[float, str | None] | None = None

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
        # A lookup, not try/except: the first read of a key, the usual case,
        # would otherwise raise and catch a KeyError.
        value = self._values.get(name, _MISSING)
        if value is not _MISSING:
            return value
        raw = self._raw[name]
        try:
            value = self.decode_value(raw)
        except ValueError:
            # Only a tampered store holds undecodable text: drop the key, loudly.
            security_logger.warning("session value %r could not be decoded; dropped", name)
            del self._raw[name]
            _dict_del(self, name)
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

    def __reversed__(self) -> Iterator[str]:
        self.accessed = True
        return reversed(list(self._raw))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Session):
            return dict(self.items()) == dict(other.items())
        if isinstance(other, dict):
            return dict(self.items()) == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        # dict's own __ne__ would compare the mirrored keys' placeholder values.
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**dict(self.items()), **other}

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **dict(self.items())}

    def __ior__(self, other: Any) -> Session:  # type: ignore[override]
        self.update(other)
        return self

    __hash__ = None

    def __repr__(self) -> str:
        # Never the key: repr ends up in logs and tracebacks.
        return f"<Session keys={sorted(self._raw)!r} modified={self._modified}>"

    # -- writing ---------------------------------------------------------------

    def __setitem__(self, name: str, value: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"session keys are strings, not {type(name).__name__}")
        try:
            raw = self.encode_value(value)
        except TypeError:
            raise UnserializableValue(name, value) from None
        # Refuse here, where the app can catch it, rather than at commit.
        old = self._raw.get(name)
        size = self.encoded_size() + len(raw) - (len(name) + len(old) if old is not None else 0)
        size += len(name)
        if size > (self._limit if self._limit >= 0 else self.size_limit):
            raise SessionTooLarge(size, self.size_limit)
        self.accessed = True
        self._modified = True
        self._raw[name] = raw
        _dict_set(self, name, raw)
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
        _dict_del(self, name)
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
        _dict_clear(self)
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
        self._end_predecessor()
        self._followed = False
        self._key = None
        self._record = None
        self._meta = {}
        self._origin = None
        self._cleared = False

    def cycle_key(self) -> None:
        """Move the data to a fresh key; the old one ends at commit.

        With ``rotation_grace`` (a server-side store) the old key serves the
        new one's record for that many seconds, then dies; see ``_rotation``.
        A session opened from a rotated key's successor keeps that key: it
        joins the rotation it followed rather than start another.
        """
        self.accessed = True
        self._modified = True
        if self._followed:
            return
        if self._key is not None and self._record is not None:
            self._end_predecessor()
            self._predecessor = (self._key, self._record)
            self._origin = (self._record.created, self._record.user_id)
        self._key = new_key()
        self._record = None
        self._cycled = True

    def _end_predecessor(self) -> None:
        # The old key dies at once (a flush, no grace window, nothing saved).
        if self._predecessor is not None:
            self._dead_keys.append((self._predecessor[0], "cycled"))
            self._predecessor = None

    # -- Django's test-cookie helpers ----------------------------------------------

    TEST_COOKIE_NAME = "testcookie"
    TEST_COOKIE_VALUE = "worked"

    def set_test_cookie(self) -> None:
        """Store a marker to check, on the next request, that the browser keeps cookies."""
        self[self.TEST_COOKIE_NAME] = self.TEST_COOKIE_VALUE

    def test_cookie_worked(self) -> bool:
        return bool(self.get(self.TEST_COOKIE_NAME) == self.TEST_COOKIE_VALUE)

    def delete_test_cookie(self) -> None:
        self.pop(self.TEST_COOKIE_NAME, None)

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
        return int(self._expiry_age(self._config.now()))

    def get_expiry_date(self) -> dt.datetime:
        """When the session expires (aware UTC)."""
        now = self._config.now()
        return from_timestamp(now + self._expiry_age(now))

    def get_expiry_setting(self) -> int | dt.datetime | None:
        """What :meth:`set_expiry` set: seconds (``0``: browser close), a deadline
        (aware UTC), or ``None`` (the global policy)."""
        deadline = self._meta.get(_EXPIRY_AT)
        if deadline is not None:
            return from_timestamp(float(deadline))
        seconds = self._meta.get(_EXPIRY)
        return None if seconds is None else int(seconds)

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
        if self._record is None:
            return self._origin[1] if self._origin is not None else None
        return self._record.user_id

    # -- the named internal API (auth, the lifecycle, the integrations) -----------

    @property
    def config(self) -> SessionConfig:
        """The configuration this session follows."""
        return self._config

    @property
    def record(self) -> SessionRecord | None:
        """The stored record this session was loaded from or last committed to."""
        return self._record

    @property
    def was_saved(self) -> bool:
        """Whether a commit wrote this session (the response must carry it)."""
        return self._saved

    @property
    def gone(self) -> bool:
        """Whether the commit found the record deleted meanwhile (logout elsewhere)."""
        return self._gone

    @property
    def carried(self) -> str | None:
        """What the client carries after the last commit: the key, or a sealed record."""
        return self._carried

    def bind_user(self, user_id: str | None) -> None:
        """Bind ``user_id`` to the session (a record column: the per-user index)."""
        # Staged in meta until commit.
        self._meta["uid"] = user_id
        self._modified = True
        self.accessed = True

    @property
    def device_bound(self) -> bool:
        """Whether this session is bound to a device key (DBSC) and, in scope,
        this request carried the live bound cookie that proves it."""
        return self._meta.get(DBSC_BINDING) is not None

    def get_meta(self, name: str) -> Any:
        """A framework entry kept beside the user data (never inside it)."""
        return self._meta.get(name)

    def set_meta(self, name: str, value: Any) -> None:
        """Set a framework entry kept beside the user data; the session is saved."""
        self._meta[name] = value
        self._modified = True

    def clear_site_data(self) -> None:
        """Have the response tell the browser to delete every cookie of this site
        (``Clear-Site-Data: "cookies"``): the end of a logout that must leave nothing."""
        self._clear_site = True

    @property
    def clears_site_data(self) -> bool:
        """Whether the response carries ``Clear-Site-Data: "cookies"``."""
        return self._clear_site

    def require_save(self) -> None:
        """Write this session at commit even if nothing changed (Django's ``save()``,
        a cookie sealed under an old secret)."""
        self._modified = True

    def serve_successor(self) -> None:
        """This session was opened under the successor of the rotated key the
        request carried: the response carries the successor (it is saved), and
        ``cycle_key()`` keeps it (the request joins that rotation)."""
        self._followed = True
        self._modified = True

    def mark_unpersisted(self) -> None:
        """Never write this session (the store failed and ``on_store_error`` degrades)."""
        self._persist = False
        self._saved = False

    def saved_cookie(self) -> tuple[str, int | None, float | None] | None:
        """After a commit that wrote: what the client carries, the cookie's
        ``Max-Age`` and its expiry (both ``None``: until the browser closes).

        ``None`` when nothing was written (or there is no key to carry).
        """
        key = self._key
        if not self._saved or key is None:
            return None
        value = self._carried or key
        if self.get_expire_at_browser_close():
            return value, None, None
        config = self._config
        now = (config.clock or config.store.clock)()  # config.now(), inlined: every response
        record = self._record
        age = max(0, round(self._expiry_age(now) if record is None else record.expires - now))
        return value, age, now + age

    # -- commit ----------------------------------------------------------------

    @property
    def should_save(self) -> bool:
        """Whether a commit now would write (modified, or saved on every request)."""
        if self.is_empty() or not self._persist or self._gone:
            return False
        return self._modified or self._config.save_every_request or self._needs_touch()

    def _needs_touch(self) -> bool:
        # Sliding expiry without a write per request: with refresh_after, an
        # unchanged session is saved again (extending its expiry) only once
        # that many seconds passed since the last save. With an idle timeout,
        # activity must reach the store too: once a tenth of the timeout passed.
        config = self._config
        record = self._record
        if record is None or (config.idle_timeout is None and config.refresh_after is None):
            return False
        elapsed = config.now() - record.last_seen
        if config.refresh_after is not None and elapsed >= config.refresh_after:
            return True
        return config.idle_timeout is not None and elapsed >= min(60.0, config.idle_timeout / 10)

    def _collect_nested(self) -> None:
        # Values read and then mutated in place join the change set.
        for name, before in self._watch.items():
            if name in self._raw:
                raw = self.encode_value(self._values[name])
                if raw != before:
                    self._raw[name] = raw
                    _dict_set(self, name, raw)
                    self._set[name] = raw
                    self._modified = True
                    self._size = -1
        if self._forced:
            for name in self._values:
                if name in self._raw:
                    raw = self.encode_value(self._values[name])
                    self._set[name] = self._raw[name] = raw
                    _dict_set(self, name, raw)

    @property
    def size_limit(self) -> int:
        """Bytes of encoded data this session may hold: ``max_session_bytes``,
        capped by the store's own ``max_data_bytes`` when it has one."""
        if self._limit < 0:
            limit = self._config.max_session_bytes
            store_limit = self._config.store.max_data_bytes
            self._limit = limit if store_limit is None else min(limit, store_limit)
        return self._limit

    def encoded_size(self) -> int:
        """Bytes of the encoded data (what ``max_session_bytes`` limits)."""
        if self._size < 0:
            raw = self._raw
            self._size = sum(map(len, raw)) + sum(map(len, raw.values()))
        return self._size

    def _deadline(self, now: float, created: float) -> float:
        expires = now + self._expiry_age(now)
        config = self._config
        if config.idle_timeout is not None:
            expires = min(expires, now + config.idle_timeout)
        if config.absolute_timeout is not None:
            expires = min(expires, created + config.absolute_timeout)
        return expires

    def commit_plan(self, *, save: bool = True) -> Steps[None]:
        """The store operations that commit this request's changes.

        Dead keys (from ``flush`` and ``cycle_key``) are always deleted; the
        data is written only when ``save`` is true and :attr:`should_save`.
        """
        if self._predecessor is not None and not (save and _rotation.rotates(self._config)):
            self._end_predecessor()
        if self._dead_keys:
            yield from self._delete_dead()
        if not save:
            return
        if self._watch or self._forced:
            self._collect_nested()
        if not self.should_save:
            self._end_predecessor()
            if self._dead_keys:
                yield from self._delete_dead()
            return
        size = self.encoded_size()
        if size > (self._limit if self._limit >= 0 else self.size_limit):
            raise SessionTooLarge(size, self.size_limit)
        config = self._config
        now = (config.clock or config.store.clock)()  # config.now(), inlined: every commit
        meta_uid = self._meta.pop("uid", _MISSING)
        predecessor, self._predecessor = self._predecessor, None
        if self._record is None and predecessor is not None and self._origin is not None:
            yield from self._rotate(now, meta_uid, *predecessor)
        else:
            if predecessor is not None:
                yield Delete(predecessor[0], "cycled")
            if self._record is None:
                yield from self._create(now, meta_uid)
            else:
                yield from self._update(now, meta_uid)
        self._saved = True

    def _delete_dead(self) -> Steps[None]:
        for dead, why in self._dead_keys:
            yield Delete(dead, why)
        self._dead_keys.clear()

    def _rotate(self, now: float, user: Any, old: str, base: SessionRecord) -> Steps[None]:
        new = self._key
        if new is None:
            raise RuntimeError("_rotate needs the new key")
        change = self._change(now, user, base)
        moved = yield from _rotation.rotate(self._config, old, new, change, base, self._client)
        if moved is None:
            # Nothing left to rotate from: a plain new record, as without a window.
            yield Delete(old, "cycled")
            yield from self._create(now, user)
        elif isinstance(moved, tuple):
            self._after_commit(moved[0], moved[1], moved[0])
        else:
            self._gone = True
            self._reset(None, None)

    def _create(self, now: float, user: Any) -> Steps[None]:
        meta = dict(self._meta)
        created, user_id = now, None if user is _MISSING else user
        if self._origin is not None:
            # A rotation is the same session under a new key: it keeps its age
            # (else rotating would escape the absolute timeout), its user and
            # the device it was first seen on.
            created = self._origin[0]
            if user is _MISSING:
                user_id = self._origin[1]
        if self._client:
            fresh = {k: v for k, v in self._client.items() if v}
            meta.update(fresh if self._origin is None else {**fresh, **meta})
        key = self._key
        if key is None or not is_valid_key(key):
            key = new_key()
        while True:
            record = SessionRecord(
                key_hash="",
                data=dict(self._raw),
                created=created,
                last_seen=now,
                expires=self._deadline(now, created),
                user_id=user_id,
                version=1,
                meta=meta,
            )
            try:
                carried: str = yield Create(key, record)
            except SessionKeyExists:
                key = new_key()  # 165 random bits collided: astonishing, but handled
                continue
            break
        self._after_commit(key, record, carried)

    def _update(self, now: float, user: Any) -> Steps[None]:
        base = self._record
        if base is None or self._key is None:
            raise RuntimeError("_update needs a loaded record")
        change = self._change(now, user, base)
        key = self._key
        applied: Applied | None = yield Apply(key, change, base)
        if applied is not None and MARKER in applied.record.meta:
            # Rotated while this request ran: the change goes to the successor.
            moved = yield from _rotation.redirect(
                self._config, key, applied.record, change, self._client
            )
            if isinstance(moved, tuple):
                key, applied = moved[0], Applied(moved[1], moved[0])
            else:
                applied = None
        if applied is None:
            # Deleted (logout, revoke, expiry) by someone else meanwhile: the
            # change is dropped and no cookie may point at the dead key.
            self._gone = True
            self._reset(None, None)
            return
        self._after_commit(key, applied.record, applied.carried)

    def _change(self, now: float, user: Any, base: SessionRecord) -> Change:
        """This request's change set, relative to ``base`` (the record it loaded)."""
        meta, before = self._meta, base.meta
        changed_meta: dict[str, Any] = {}
        if meta != before:  # one C comparison for the usual case: nothing changed
            changed_meta = {k: v for k, v in meta.items() if before.get(k) != v}
            for name in before:
                if name not in meta:
                    changed_meta[name] = None
        return Change(
            self._set,
            frozenset(self._deleted) if self._deleted else _NOTHING,
            now,
            self._deadline(now, base.created),
            self._cleared,
            changed_meta,
            user is not _MISSING,
            None if user is _MISSING else user,
        )

    def _after_commit(self, key: str, record: SessionRecord, carried: str) -> None:
        values, watch = self._values, self._watch
        if record.data == self._raw:
            # The store holds what this session holds (no change from elsewhere
            # was merged in): keep the data and its mirror, not a copy of them.
            self._key = key
            self._record = record
            self._forget_changes(record)
        else:
            self._reset(key, record)
            # Keep decoded values and their watch marks: the app may read again.
            self._values = values
        if watch:
            self._watch = {name: self._raw[name] for name in watch if name in self._raw}
        self._modified = False
        self._forced = False
        self._carried = carried

    def load_plan(self) -> Steps[None]:
        """The store operations that (re)load this session's record."""
        key = self._key
        record = None
        if key is not None and is_valid_key(key):
            record = yield Load(key)
            if record is not None and MARKER in record.meta:
                moved = yield from _rotation.follow(self._config, key, record, self._client)
                key, record = moved if moved is not None else (key, None)
                self._followed = moved is not None
        self._reset(key if record is not None else None, record)

    # -- I/O edges, for code outside a request -----------------------------------

    async def load(self) -> None:
        """Read this session's record from the store (dropping unsaved changes)."""
        await run_async(self._config.store, self.load_plan(), self._config.event_hooks)

    def load_sync(self) -> None:
        run_sync(self._config.store, self.load_plan(), self._config.event_hooks)

    async def save(self) -> None:
        """Commit now; the middleware will not save these changes again."""
        await run_async(self._config.store, self.commit_plan(), self._config.event_hooks)

    def save_sync(self) -> None:
        run_sync(self._config.store, self.commit_plan(), self._config.event_hooks)

    reload = load
    reload_sync = load_sync
