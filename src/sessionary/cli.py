"""The ``sessionary`` command.

Each subcommand takes ``--store URL`` (or ``SESSIONARY_STORE_URL``), shows
progress on long work, and fails with one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .config import DEFAULT_STORE_URL
from .demo import register as register_demo
from .exceptions import SessionError
from .stores import from_url
from .stores.base import ALL, Store

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


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
        store.migrate_sync()
    finally:
        store.close()
    print(f"{store!r}: schema is up to date")
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


def cmd_sessions(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        if args.action == "list":
            infos = store.sessions_for_sync(args.user)
            print(f"{len(infos)} live session(s) for user {args.user!r}")
            for info in infos:
                print(
                    f"  {info.session_id[:16]}  created {info.created_at:%Y-%m-%d %H:%M}"
                    f"  last seen {info.last_seen_at:%Y-%m-%d %H:%M}"
                    f"  {info.ip or '-'}  {info.user_agent or '-'}"
                )
            return 0
        target = args.session or ALL
        if target != ALL:
            # The listing shows a prefix of the session id: accept it.
            matches = [i.session_id for i in store.sessions_for_sync(args.user)]
            matches = [m for m in matches if m.startswith(target)]
            if len(matches) != 1:
                print(
                    f"sessionary sessions: {len(matches)} sessions of user {args.user!r} "
                    f"match {target!r}; give a longer id",
                    file=sys.stderr,
                )
                return 1
            target = matches[0]
        ended = store.revoke_sync(args.user, target)
    finally:
        store.close()
    print(f"revoked {ended} session(s) of user {args.user!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sessionary", description="Server-side sessions for ASGI and WSGI apps."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    for register in _EXTENSIONS:
        register(sub)
    return parser


# Subcommands that live in their own modules register here (demo, sessions).
_EXTENSIONS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    register_demo,
]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except SessionError as exc:
        print(f"sessionary {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sessionary {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
