"""The ``sessionary`` command answers like its peers.

Every failure is exactly one line on stderr, naming what is wrong and what to
do, with a non-zero exit. The failures are real ones: a closed port for an
unreachable server, a database or role that does not exist on the running
PostgreSQL and MariaDB, a driver hidden from the import system.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionary import __version__
from sessionary.cli import main
from sessionary.exceptions import MissingDependency
from sessionary.stores import from_url
from sessionary.stores.base import SessionRecord

from .store_registry import require_server

PG = "postgresql://postgres@127.0.0.1:5432"
MYSQL = "mysql://root@127.0.0.1:3306"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """Run the CLI in-process: (exit status, stdout, stderr lines)."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own exits (--version, usage errors)
        status = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def fails_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> str:
    status, out, err = run(argv, capsys)
    assert status != 0, out
    assert len(err) == 1, err
    for word in words:
        assert word in err[0], err[0]
    return err[0]


def closed_port() -> int:
    """A port nothing listens on: bound by us for a moment, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database of our own, dropped afterwards."""
    require_server("127.0.0.1", 5432, "PostgreSQL")
    import psycopg

    name = f"sessionary_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG}/test", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{PG}/{name}"
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@contextlib.contextmanager
def mysql_database() -> Iterator[str]:
    """A fresh, empty MariaDB database of our own, dropped afterwards."""
    require_server("127.0.0.1", 3306, "MariaDB")
    import pymysql

    name = f"sessionary_cli_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        try:
            yield f"{MYSQL}/{name}"
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE {name}")
    finally:
        admin.close()


# -- conventions -------------------------------------------------------------


def test_python_dash_m_runs_the_command_and_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sessionary", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sessionary {__version__}"


def test_a_subprocess_failure_is_one_line_on_stderr() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    done = subprocess.run(
        [sys.executable, "-m", "sessionary", "migrate", "--store", url],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("sessionary migrate: redis unavailable")


def test_a_usage_error_is_one_line_with_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["migrate", "--no-such-option"], capsys)
    assert status == 2
    assert err == ["sessionary: unrecognized arguments: --no-such-option (see 'sessionary --help')"]


def test_help_lists_the_store_urls(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["--help"], capsys)
    assert status == 0
    assert "redis://host:6379/0" in out
    assert "pip install 'sessionary[memcached]'" in out


# -- unreachable servers: migrate fails, never "up to date" --------------------


@pytest.mark.parametrize(
    ("scheme", "says"),
    [
        ("redis://127.0.0.1:{port}/0", "redis unavailable"),
        ("memcached://127.0.0.1:{port}", "memcached unavailable"),
        ("postgresql://postgres@127.0.0.1:{port}/test", "database unavailable"),
        ("mysql://root@127.0.0.1:{port}/test", "database unavailable"),
        ("cached+sqlite:///{tmp}/s.db?cache=redis://127.0.0.1:{port}/0", "redis unavailable"),
    ],
    ids=["redis", "memcached", "postgresql", "mysql", "cached-db-cache"],
)
def test_migrate_fails_when_the_server_is_unreachable(
    scheme: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = scheme.format(port=closed_port(), tmp=tmp_path)
    line = fails_with_one_line(["migrate", "--store", url], capsys, says, "is the server up")
    assert line.startswith("sessionary migrate: ")


@pytest.mark.parametrize("command", [["clearsessions"], ["sessions", "list", "--user", "7"]])
def test_other_commands_fail_in_one_line_when_the_server_is_unreachable(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    fails_with_one_line([*command, "--store", url], capsys, "redis unavailable")


# -- wrong URLs --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:6379/abc", "'abc' is not a Redis database number"),
        ("redis://127.0.0.1:63x9/0", "the port '63x9'"),
        ("postgresql://postgres@127.0.0.1:54x/test", "the port '54x'"),
        ("memcached://127.0.0.1:abc", "the port 'abc'"),
        ("nosuch://x", "unknown store scheme 'nosuch'"),
        ("sessions.db", "is not a store URL"),
        ("postgresql+nosuchdriver://postgres@127.0.0.1/test", "knows no driver"),
    ],
)
def test_a_wrong_url_is_one_line_naming_the_fault(
    url: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fails_with_one_line(["migrate", "--store", url], capsys, says, "sessionary --help")


# -- missing database, role, table: named as such ------------------------------


def test_a_missing_postgresql_database_is_named_as_such(
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    name = f"sessionary_missing_{uuid.uuid4().hex[:8]}"
    line = fails_with_one_line(["migrate", "--store", f"{PG}/{name}"], capsys)
    assert f"database '{name}' does not exist on 127.0.0.1:5432" in line
    assert "session table" not in line


def test_a_missing_postgresql_role_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    require_server("127.0.0.1", 5432, "PostgreSQL")
    role = f"nobody_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://{role}@127.0.0.1:5432/test"
    line = fails_with_one_line(["sessions", "list", "--user", "1", "--store", url], capsys)
    assert f"role '{role}' does not exist on 127.0.0.1:5432" in line
    assert "session table" not in line


def test_a_missing_postgresql_table_says_to_migrate(capsys: pytest.CaptureFixture[str]) -> None:
    with postgres_database() as url:
        line = fails_with_one_line(["sessions", "list", "--user", "1", "--store", url], capsys)
    assert line == (
        "sessionary sessions: the session table does not exist:"
        " run 'sessionary migrate --store URL'"
    )


def test_a_missing_mysql_database_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    require_server("127.0.0.1", 3306, "MariaDB")
    name = f"sessionary_missing_{uuid.uuid4().hex[:8]}"
    line = fails_with_one_line(["migrate", "--store", f"{MYSQL}/{name}"], capsys)
    assert f"database '{name}' does not exist on 127.0.0.1:3306" in line


def test_a_refused_mysql_login_names_the_user(capsys: pytest.CaptureFixture[str]) -> None:
    require_server("127.0.0.1", 3306, "MariaDB")
    user = f"nobody_{uuid.uuid4().hex[:8]}"
    url = f"mysql://{user}@127.0.0.1:3306/test"
    line = fails_with_one_line(["migrate", "--store", url], capsys)
    assert f"refused the login of user '{user}'" in line


def test_a_missing_mysql_table_says_to_migrate(capsys: pytest.CaptureFixture[str]) -> None:
    with mysql_database() as url:
        fails_with_one_line(
            ["sessions", "list", "--user", "1", "--store", url],
            capsys,
            "the session table does not exist: run 'sessionary migrate",
        )


def test_a_missing_sqlite_table_says_to_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fails_with_one_line(
        ["clearsessions", "--store", url], capsys, "the session table does not exist"
    )


# -- migrate says what it did ------------------------------------------------


def migrate_twice(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    first, out1, err1 = run(["migrate", "--store", url], capsys)
    second, out2, err2 = run(["migrate", "--store", url], capsys)
    assert (first, second, err1, err2) == (0, 0, [], [])
    return out1.strip(), out2.strip()


def test_migrate_says_created_then_up_to_date_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = migrate_twice(f"sqlite:///{tmp_path / 'new.db'}", capsys)
    assert first.endswith(": created the schema")
    assert second.endswith(": up to date")


def test_migrate_says_created_then_up_to_date_on_postgresql(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with postgres_database() as url:
        first, second = migrate_twice(url, capsys)
    assert (first.rsplit(": ", 1)[1], second.rsplit(": ", 1)[1]) == (
        "created the schema",
        "up to date",
    )


def test_migrate_says_created_then_up_to_date_on_mysql(capsys: pytest.CaptureFixture[str]) -> None:
    with mysql_database() as url:
        first, second = migrate_twice(url, capsys)
    assert (first.rsplit(": ", 1)[1], second.rsplit(": ", 1)[1]) == (
        "created the schema",
        "up to date",
    )


def test_migrate_says_created_then_up_to_date_on_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = migrate_twice(f"file://{tmp_path / 'sessions'}", capsys)
    assert first.endswith(": created the schema")
    assert second.endswith(": up to date")


def test_migrate_on_a_reachable_redis_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    require_server("127.0.0.1", 6379, "Redis")
    first, second = migrate_twice(
        f"redis://127.0.0.1:6379/0?prefix=cli-{uuid.uuid4().hex}:", capsys
    )
    assert first.endswith(": up to date")
    assert second.endswith(": up to date")


# -- sessions list / revoke ----------------------------------------------------


def store_with_sessions(tmp_path: Path, user: str, count: int) -> str:
    url = f"sqlite:///{tmp_path / 'sessions.db'}"
    store = from_url(url)
    store.migrate_sync()
    now = store.clock()
    for i in range(count):
        record = SessionRecord(
            key_hash="",
            data={},
            created=now,
            last_seen=now,
            expires=now + 3600 * (i + 1),
            user_id=user,
            meta={"ip": f"10.0.0.{i}", "ua": "curl/8"},
        )
        store.save_sync(uuid.uuid4().hex, record)
    store.close()
    return url


def test_sessions_list_prints_the_expiry_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store_with_sessions(tmp_path, "42", 2)
    status, out, err = run(["sessions", "list", "--user", "42", "--store", url], capsys)
    assert (status, err) == (0, [])
    lines = out.splitlines()
    assert lines[0] == "2 live session(s) for user '42' (times in UTC)"
    assert lines[1].split() == [
        "ID",
        "CREATED",
        "LAST",
        "SEEN",
        "EXPIRES",
        "ADDRESS",
        "USER",
        "AGENT",
    ]
    infos = from_url(url).sessions_for_sync("42")
    for info, line in zip(infos, lines[2:], strict=True):
        assert line.split()[0] == info.session_id[:16]
        assert f"{info.expires_at:%Y-%m-%d %H:%M}" in line
        assert "curl/8" in line


def test_sessions_list_on_the_cookie_store_says_it_cannot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fails_with_one_line(
        ["sessions", "list", "--user", "1", "--store", "cookie://"],
        capsys,
        "cannot list sessions",
        "use a server-side store",
    )


def test_revoke_with_no_matching_session_says_none_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store_with_sessions(tmp_path, "42", 1)
    line = fails_with_one_line(
        ["sessions", "revoke", "--user", "42", "--session", "zzzz", "--store", url], capsys
    )
    assert line == (
        "sessionary sessions: no session of user '42' matches 'zzzz'"
        " (see 'sessionary sessions list --user 42')"
    )


def test_revoke_by_an_unambiguous_prefix_ends_that_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store_with_sessions(tmp_path, "42", 3)
    target = from_url(url).sessions_for_sync("42")[1].session_id
    status, out, _ = run(
        ["sessions", "revoke", "--user", "42", "--session", target[:10], "--store", url], capsys
    )
    assert (status, out) == (0, "revoked 1 session(s) of user '42'\n")
    left = [i.session_id for i in from_url(url).sessions_for_sync("42")]
    assert len(left) == 2
    assert target not in left


# -- a missing extra: the same one-line hint, in the CLI and in from_url -------


@contextlib.contextmanager
def hidden(monkeypatch: pytest.MonkeyPatch, *packages: str) -> Iterator[None]:
    """Make ``packages`` unimportable, as if their extra were not installed."""
    with monkeypatch.context() as patch:
        for name in list(sys.modules):
            if name.startswith("sessionary.stores.") or name.split(".")[0] in packages:
                patch.delitem(sys.modules, name)
        for package in packages:
            patch.setitem(sys.modules, package, None)  # None: "import halted"
        yield


@pytest.mark.parametrize(
    ("url", "package", "extra"),
    [
        ("memcached://127.0.0.1:11211", "pymemcache", "memcached"),
        ("memcached://127.0.0.1:11211", "aiomcache", "memcached"),
        ("redis://127.0.0.1:6379/0", "redis", "redis"),
        ("cookie://", "cryptography", "cookie"),
        ("postgresql://postgres@127.0.0.1/test", "psycopg", "postgresql"),
        ("mysql://root@127.0.0.1/test", "pymysql", "mysql"),
        ("mysql://root@127.0.0.1/test", "aiomysql", "mysql"),
        ("cached+sqlite:///x.db?cache=memcached://127.0.0.1:11211", "pymemcache", "memcached"),
    ],
    ids=lambda v: v.split(":")[0],
)
def test_a_missing_extra_is_one_line_with_the_pip_command(
    url: str,
    package: str,
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    hint = f"pip install 'sessionary[{extra}]'"
    with hidden(monkeypatch, package):
        with pytest.raises(MissingDependency) as raised:
            from_url(url)
        assert str(raised.value).endswith(hint)
        line = fails_with_one_line(["migrate", "--store", url], capsys, hint)
    assert line.endswith(hint)
