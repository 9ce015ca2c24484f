"""The embedded default store: hashed keys at rest, cleanup, and the CLI."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sessionary import Session, SessionConfig
from sessionary.cli import main
from sessionary.stores.database import DatabaseStore

from .conftest import FakeClock


def test_no_raw_key_in_the_sqlite_file(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "s.db"
    store = DatabaseStore(f"sqlite:///{db}", clock=clock)
    store.migrate_sync()
    config = SessionConfig(store=store)
    keys = []
    for i in range(20):
        s = Session(config)
        s["n"] = i
        s.save_sync()
        assert s.session_key is not None
        keys.append(s.session_key)
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for key in keys:
        assert key.encode() not in raw
    assert b'"n"' in raw  # the data is there: the scan reads the right file


def test_clearsessions_removes_only_dead_records(
    tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["migrate", "--store", url]) == 0
    store = DatabaseStore(url, clock=clock)
    short = SessionConfig(store=store, cookie_age=60)
    long = SessionConfig(store=store, cookie_age=3600)
    # The CLI reads the real clock: write the records two minutes in the past.
    clock.now = time.time() - 120
    dead: list[str | None] = []
    live: list[str | None] = []
    for config, bucket in ((short, dead), (long, live)):
        for _ in range(5):
            s = Session(config)
            s["x"] = 1
            s.save_sync()
            bucket.append(s.session_key)
    store.close()
    assert main(["clearsessions", "--store", url, "--batch-size", "2"]) == 0
    out = capsys.readouterr()
    assert "removed 5 expired sessions" in out.out
    checker = DatabaseStore(url)
    assert not any(checker.exists_sync(k) for k in dead if k)
    assert all(checker.exists_sync(k) for k in live if k)
    checker.close()


def test_migrate_is_safe_to_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["migrate", "--store", url]) == 0
    assert main(["migrate", "--store", url]) == 0


def test_cli_fails_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--store", "nope://x"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown store scheme" in err


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    from sessionary import StoreError

    store = DatabaseStore(f"sqlite:///{tmp_path / 'none.db'}")
    with pytest.raises(StoreError, match="sessionary migrate"):
        store.load_sync("a" * 32)
    store.close()
