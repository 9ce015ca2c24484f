"""``FileStore``: one file per session, replaced atomically, locked across processes.

``file:///var/lib/app/sessions`` keeps each session in a file named by the
key's hash. Writers take an exclusive ``fcntl`` lock on a per-session lock
file, read the current record, apply the request's change set and replace
the file atomically (write a temporary file, then ``os.replace``), so
several processes and threads can share the directory safely; readers need
no lock, since a file is always whole. The directory is created with mode
0700 on first use. A user's sessions are indexed by empty files under
``users/<hash of user id>/``. Async methods run the same code in a worker
thread, one hop an operation (:class:`~sessionary.stores._adapters.InThread`).

Any error of the filesystem itself (read-only, permission denied, disk
full, I/O error) is :class:`~sessionary.exceptions.StoreUnavailable`: the
request answers 503, as for a database that is down.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

from .._clock import Clock
from ..exceptions import ConfigurationError, CorruptRecord, SessionKeyExists, StoreUnavailable
from ._adapters import InThread
from ._composed import ComposedStore
from .base import ALL, ALL_BUT_CURRENT, Change, Progress, SessionInfo, SessionRecord, apply_change

__all__ = ["FileStore"]

_LOCKS = ".locks"
_USERS = "users"

P = ParamSpec("P")
R = TypeVar("R")


def _filesystem_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Raise the filesystem's own failures as ``StoreUnavailable`` (503), whatever the call.

    A read-only or full disk is an outage of the store, not a bug in the
    request: without this, an ``OSError`` from any ``open``/``mkdir``/``unlink``
    escapes as a 500.
    """

    @functools.wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OSError as exc:
            raise StoreUnavailable(f"session directory unusable: {exc}") from exc

    return translated


def _encode(record: SessionRecord) -> bytes:
    return json.dumps(
        {
            "d": record.data,
            "m": record.meta,
            "c": record.created,
            "s": record.last_seen,
            "e": record.expires,
            "u": record.user_id,
            "v": record.version,
        },
        separators=(",", ":"),
        # Escaped ASCII: any str (a lone surrogate in a name) encodes, so it stores.
        ensure_ascii=True,
    ).encode("utf-8")


def _decode(key_hash: str, raw: bytes) -> SessionRecord:
    try:
        doc = json.loads(raw)
        record = SessionRecord(
            key_hash=key_hash,
            data=doc["d"],
            created=float(doc["c"]),
            last_seen=float(doc["s"]),
            expires=float(doc["e"]),
            user_id=doc["u"],
            version=int(doc["v"]),
            meta=doc["m"],
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptRecord(f"session file {key_hash[:12]}… is not valid: {exc!r}") from None
    if not isinstance(record.data, dict) or not isinstance(record.meta, dict):
        raise CorruptRecord(f"session file {key_hash[:12]}… has the wrong shape")
    return record


class FileStore(ComposedStore):
    """Sessions as files in ``directory``."""

    def __init__(self, directory: str | os.PathLike[str], *, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.directory = Path(directory)
        self._sync = FileBackend(self.directory, self._now)
        self._async = InThread(self._sync)

    @classmethod
    def from_url(cls, url: str) -> FileStore:
        path = unquote(urlsplit(url).path)
        if not path:
            raise ConfigurationError("store", f"{url!r} names no directory (file:///path)")
        return cls(path)

    def __repr__(self) -> str:
        return f"FileStore({str(self.directory)!r})"


class FileBackend:
    """The store's operations on key hashes, sync (the async face runs them in a thread)."""

    def __init__(self, directory: Path, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.clock = clock
        self._ready = False

    # -- files -----------------------------------------------------------------

    def _ensure(self) -> None:
        if not self._ready:
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                (self.directory / _LOCKS).mkdir(mode=0o700, exist_ok=True)
                (self.directory / _USERS).mkdir(mode=0o700, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create session directory: {exc}") from exc
            self._ready = True

    def _path(self, key_hash: str) -> Path:
        return self.directory / key_hash

    def _user_dir(self, user_id: str) -> Path:
        return self.directory / _USERS / hashlib.sha256(user_id.encode("utf-8")).hexdigest()

    @contextlib.contextmanager
    def _locked(self, key_hash: str) -> Iterator[None]:
        self._ensure()
        fd = os.open(self.directory / _LOCKS / key_hash, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read(self, key_hash: str) -> SessionRecord | None:
        try:
            raw = self._path(key_hash).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreUnavailable(f"cannot read session file: {exc}") from exc
        return _decode(key_hash, raw)

    def _write(self, record: SessionRecord) -> None:
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_encode(record))
            os.replace(temp, self._path(record.key_hash))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise StoreUnavailable(f"cannot write session file: {exc}") from exc

    def _index(self, user_id: str | None, key_hash: str, *, add: bool) -> None:
        if user_id is None:
            return
        folder = self._user_dir(user_id)
        if add:
            folder.mkdir(mode=0o700, exist_ok=True)
            (folder / key_hash).touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                (folder / key_hash).unlink()

    def _remove(self, key_hash: str, record: SessionRecord | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key_hash).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.directory / _LOCKS / key_hash).unlink()
        if record is not None:
            self._index(record.user_id, key_hash, add=False)

    # -- the operations ----------------------------------------------------------

    @_filesystem_errors
    def load(self, key_hash: str) -> SessionRecord | None:
        record = self._read(key_hash)
        return record if record is not None and record.is_live(self.clock()) else None

    @_filesystem_errors
    def save(self, record: SessionRecord, *, must_create: bool) -> None:
        digest = record.key_hash
        with self._locked(digest):
            current = self._read(digest)
            if must_create and current is not None and current.is_live(self.clock()):
                raise SessionKeyExists("session key already exists")
            self._write(record)
            if current is not None and current.user_id != record.user_id:
                self._index(current.user_id, digest, add=False)
            self._index(record.user_id, digest, add=True)

    @_filesystem_errors
    def apply(
        self, digest: str, change: Change, base: SessionRecord | None
    ) -> SessionRecord | None:
        with self._locked(digest):
            current = self._read(digest)
            if current is None or not current.is_live(self.clock()):
                return None
            updated = apply_change(current, change)
            self._write(updated)
            if updated.user_id != current.user_id:
                self._index(current.user_id, digest, add=False)
                self._index(updated.user_id, digest, add=True)
            return updated

    @_filesystem_errors
    def delete(self, digest: str) -> None:
        # ``forget`` checked a session id first: "../x" would delete outside the directory.
        with self._locked(digest):
            try:
                current = self._read(digest)
            except CorruptRecord:
                current = None
            self._remove(digest, current)

    @_filesystem_errors
    def exists(self, key_hash: str) -> bool:
        return self.load(key_hash) is not None

    @_filesystem_errors
    def clear_expired(self, batch_size: int, progress: Progress | None) -> int:
        self._ensure()
        now = self.clock()
        removed = 0
        # scandir streams the directory: memory stays flat however many files.
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                try:
                    record = _decode(entry.name, Path(entry.path).read_bytes())
                except (CorruptRecord, FileNotFoundError):
                    continue
                if record.is_live(now):
                    continue
                with self._locked(entry.name):
                    current = self._read(entry.name)
                    if current is None or current.is_live(now):
                        continue  # renewed meanwhile
                    self._remove(entry.name, current)
                removed += 1
                if progress is not None and removed % batch_size == 0:
                    progress(removed)
        if progress is not None and removed % batch_size:
            progress(removed)
        return removed

    @_filesystem_errors
    def sessions_for(self, user_id: str) -> list[SessionInfo]:
        self._ensure()
        folder = self._user_dir(user_id)
        infos = []
        now = self.clock()
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            record = self._read(entry.name)
            if record is None or not record.is_live(now) or record.user_id != user_id:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()  # prune the index
                continue
            infos.append(SessionInfo.from_record(record))
        return sorted(infos, key=lambda info: info.created)

    @_filesystem_errors
    def revoke(self, user_id: str, target: str, keep: str | None) -> int:
        ended = 0
        for info in self.sessions_for(user_id):
            if target not in (ALL, ALL_BUT_CURRENT) and info.session_id != target:
                continue
            if target == ALL_BUT_CURRENT and info.session_id == keep:
                continue
            self.delete(info.session_id)
            ended += 1
        return ended

    @_filesystem_errors
    def migrate(self) -> bool:
        created = not (self.directory / _USERS).is_dir()
        self._ensure()
        return created

    def close(self) -> None:
        """Nothing held open between operations."""
