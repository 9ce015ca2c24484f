"""FileStore specifics: safe across processes, private directory, no raw keys on disk."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

from sessionary import Session, SessionConfig
from sessionary.stores.file import FileStore


def _writer(directory: str, key: str, worker: int) -> None:
    config = SessionConfig(store=FileStore(directory))
    for i in range(5):
        s = Session(config, key)
        s.load_sync()
        s[f"w{worker}-{i}"] = i
        s.save_sync()


def test_several_processes_lose_no_update(tmp_path: Path) -> None:
    directory = str(tmp_path / "sessions")
    config = SessionConfig(store=FileStore(directory))
    s = Session(config)
    s["start"] = True
    s.save_sync()
    assert s.session_key is not None
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(directory, s.session_key, w)) for w in range(4)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    final = Session(config, s.session_key)
    final.load_sync()
    assert {f"w{w}-{i}" for w in range(4) for i in range(5)} <= set(final.keys())


def test_directory_is_private_and_holds_no_raw_key(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "sessions"
    config = SessionConfig(store=FileStore(directory))
    s = Session(config)
    s["who"] = "alice"
    s.save_sync()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert s.session_key is not None
    dump = b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())
    dump += "".join(str(p) for p in directory.rglob("*")).encode()
    assert b"alice" in dump
    assert s.session_key.encode() not in dump
