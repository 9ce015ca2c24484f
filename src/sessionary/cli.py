"""The ``sessionary`` command (also ``python -m sessionary``).

Each subcommand takes ``--store URL`` (or ``SESSIONARY_STORE_URL``), shows
progress on long work, and fails with one line on stderr, saying what is
wrong and what to do, and a non-zero exit:

====  =====================================================================
1     the store failed or is misconfigured (unreachable server, bad URL,
      missing extra, database or table), or the request cannot be met
2     the command line itself is wrong (argparse's convention)
130   interrupted
====  =====================================================================
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, cast

from .__about__ import __version__
from ._config import DEFAULT_STORE_URL
from .demo import register as register_demo
from .exceptions import ConfigurationError, MissingDependency, SessionError, StoreUnavailable
from .stores import from_url
from .stores.base import ALL, SessionInfo, Store

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]

_STORE_URLS = """\
store URLs:
  sqlite:///sessionary.db              the default; nothing to install
  postgresql://user@host/db            pip install 'sessionary[postgresql]'
  mysql://user@host/db                 pip install 'sessionary[mysql]'
  redis://host:6379/0                  pip install 'sessionary[redis]'
  memcached://host:11211[,host:port]   pip install 'sessionary[memcached]'
  cached+postgresql://host/db?cache=redis://host:6379/0
  file:///var/lib/app/sessions
  cookie://                            pip install 'sessionary[cookie]'; no server-side state
  memory://                            one process, for tests
"""


class CommandFailed(Exception):
    """A failure the command explains itself: ``str(exc)`` is the whole line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _store(args: argparse.Namespace) -> Store:
    url = args.store or os.environ.get("SESSIONARY_STORE_URL") or DEFAULT_STORE_URL
    return from_url(url)


def _add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help=f"store URL (default: $SESSIONARY_STORE_URL or {DEFAULT_STORE_URL})",
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        created = store.migrate_sync()
    finally:
        store.close()
    print(f"{store!r}: {'created the schema' if created else 'up to date'}")
    return 0


def cmd_clearsessions(args: argparse.Namespace) -> int:
    store = _store(args)

    def progress(count: int) -> None:
        print(f"\rremoved {count} expired sessions…", end="", file=sys.stderr, flush=True)

    try:
        removed = store.clear_expired_sync(batch_size=args.batch_size, progress=progress)
    finally:
        store.close()
    if removed:
        print(file=sys.stderr)
    print(f"removed {removed} expired sessions")
    return 0


def _listing(infos: list[SessionInfo]) -> list[str]:
    rows = [("ID", "CREATED", "LAST SEEN", "EXPIRES", "ADDRESS", "USER AGENT")]
    for info in infos:
        rows.append(
            (
                info.session_id[:16],
                f"{info.created_at:%Y-%m-%d %H:%M}",
                f"{info.last_seen_at:%Y-%m-%d %H:%M}",
                f"{info.expires_at:%Y-%m-%d %H:%M}",
                info.ip or "-",
                info.user_agent or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)]
        lines.append("  " + "  ".join([*padded, row[5]]))
    return lines


def cmd_sessions(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        return _sessions(store, args)
    except NotImplementedError as exc:
        # The store has no per-user index (the cookie store keeps nothing server-side).
        raise CommandFailed(
            f"{store!r} cannot {args.action} sessions: {exc}; use a server-side store"
            " (sqlite://, postgresql://, redis://, …)"
        ) from exc
    finally:
        store.close()


def _sessions(store: Store, args: argparse.Namespace) -> int:
    if args.action == "list":
        infos = store.sessions_for_sync(args.user)
        print(f"{len(infos)} live session(s) for user {args.user!r} (times in UTC)")
        if infos:
            print("\n".join(_listing(infos)))
        return 0
    target = args.session or ALL
    if target != ALL:
        # The listing shows a prefix of the session id: accept it.
        ids = [i.session_id for i in store.sessions_for_sync(args.user)]
        matches = [i for i in ids if i.startswith(target)]
        if not matches:
            raise CommandFailed(
                f"no session of user {args.user!r} matches {target!r}"
                f" (see 'sessionary sessions list --user {args.user}')"
            )
        if len(matches) > 1:
            raise CommandFailed(
                f"{len(matches)} sessions of user {args.user!r} match {target!r}; give a longer id"
            )
        target = matches[0]
    ended = store.revoke_sync(args.user, target)
    print(f"revoked {ended} session(s) of user {args.user!r}")
    return 0


def cmd_bench(options: Sequence[str]) -> int:
    """Run the side-by-side benchmarks of a clone's ``benchmarks/`` directory.

    The harness is not in the wheel and the package never imports it: it runs
    as ``python -m benchmarks`` in the clone this package was installed from.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "runner.py").is_file():
        raise CommandFailed(
            "the benchmark harness lives in the source tree: run it from a clone"
            " (uv run python -m benchmarks)"
        )
    # The arguments go to our own harness, run by this interpreter: no shell.
    harness = [sys.executable, "-m", "benchmarks", *options]
    return subprocess.run(harness, cwd=root, check=False).returncode  # noqa: S603


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sessionary",
        description="Server-side sessions for ASGI and WSGI apps.",
        epilog=_STORE_URLS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sessionary {__version__}")
    # Typed as argparse's own class, which the subcommand modules register on
    # (they get _Parser instances, a subclass).
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )

    migrate = sub.add_parser("migrate", help="create the store's schema (safe to run again)")
    _add_store_option(migrate)
    migrate.set_defaults(func=cmd_migrate)

    clear = sub.add_parser("clearsessions", help="remove expired sessions from the store")
    _add_store_option(clear)
    clear.add_argument("--batch-size", type=int, default=1000, help="records per batch")
    clear.set_defaults(func=cmd_clearsessions)

    sessions = sub.add_parser("sessions", help="list or revoke a user's sessions")
    sessions.add_argument("action", choices=["list", "revoke"])
    sessions.add_argument("--user", required=True, help="the user id bound at login")
    sessions.add_argument(
        "--session", metavar="ID", help="with revoke: one session id (prefix); default all"
    )
    _add_store_option(sessions)
    sessions.set_defaults(func=cmd_sessions)

    # Listed for --help; main() hands everything after "bench" to the harness.
    sub.add_parser("bench", help="the side-by-side benchmarks, from a clone (bench --help)")

    for register in _EXTENSIONS:
        register(sub)
    return parser


# Subcommands that live in their own modules register here (the demo).
_EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    register_demo,
]


def _hint(exc: SessionError) -> str:
    """What to do about ``exc``, when its own message does not say."""
    if isinstance(exc, MissingDependency):
        return ""  # the message is the pip command
    if isinstance(exc, StoreUnavailable):
        return " (is the server up, and are the host, port or path in the URL right?)"
    if isinstance(exc, ConfigurationError) and exc.field == "store":
        return " (see 'sessionary --help' for store URLs)"
    if isinstance(exc, ConfigurationError) and exc.field == "secret_key":
        return " (set SESSIONARY_SECRET_KEY, or pass --secret to 'sessionary demo')"
    return ""


def _one_line(text: str) -> str:
    # Driver messages can span lines (psycopg adds a second); the contract is one.
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        try:
            return cmd_bench(argv[1:])
        except CommandFailed as exc:
            print(f"sessionary bench: {exc}", file=sys.stderr)
            return 1
    args = build_parser().parse_args(argv)
    func: Command = args.func
    prefix = f"sessionary {args.command}"
    try:
        return func(args)
    except CommandFailed as exc:
        print(f"{prefix}: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except SessionError as exc:
        print(f"{prefix}: {_one_line(str(exc))}{_hint(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
