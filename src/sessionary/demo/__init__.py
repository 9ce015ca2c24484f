"""``sessionary demo``: a small shop that shows every part of sessionary at work.

This module only registers the command; the app (and Starlette, Jinja2,
uvicorn, argon2, from the ``demo`` extra) is imported when the command runs,
so the rest of the CLI works without the extra.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .._config import DEFAULT_STORE_URL
from ..stores import from_url

__all__ = ["register"]

_EXTRA_MODULES = {"starlette", "jinja2", "uvicorn", "argon2", "multipart", "python_multipart"}


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        from .app import serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _EXTRA_MODULES:
            raise
        print(
            f"sessionary demo: {exc.name} is missing; install the demo with "
            "pip install 'sessionary[demo]'",
            file=sys.stderr,
        )
        return 1
    url = args.store or os.environ.get("SESSIONARY_STORE_URL") or DEFAULT_STORE_URL
    if args.secret:
        # The app reads its settings as SessionConfig.from_env() does.
        os.environ["SESSIONARY_SECRET_KEY"] = args.secret
    # Create the schema now, so a store that is unreachable or misnamed fails as
    # one line here rather than as a traceback from the server's start-up.
    store = from_url(url)
    try:
        store.migrate_sync()
    finally:
        store.close()
    serve(args.host, args.port, url)
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the ``demo`` subcommand to the ``sessionary`` parser."""
    demo = sub.add_parser("demo", help="run the demo shop (needs the 'demo' extra)")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=int, default=8000, help="port to listen on")
    demo.add_argument(
        "--store",
        metavar="URL",
        help=f"store URL (default: $SESSIONARY_STORE_URL or {DEFAULT_STORE_URL})",
    )
    demo.add_argument(
        "--secret",
        metavar="KEY",
        help="secret key (default: $SESSIONARY_SECRET_KEY; needed by cookie://)",
    )
    demo.set_defaults(func=cmd_demo)
