"""Instructions per request, counted by callgrind: the figure that must not drift.

Timings on a shared 2-core machine move by 2x from run to run; an instruction
count does not. This counts the pure-Python part of one session request (the
memory store, so no I/O) through the ASGI and the WSGI middleware:

    uv run python -m benchmarks.callgrind            # measure and compare with the record
    uv run python -m benchmarks.callgrind --record "why it moved"   # append a new record

Each mode runs twice under ``valgrind --tool=callgrind`` with the same set-up
and warm-up and a different number of requests; the difference divided by the
difference in requests is the price of one request, with interpreter start-up,
imports and warm-up cancelled out. A growth of more than 10% over the last
record fails the run unless it is recorded with a note (the benchmark job's
rule; the test suite never times anything).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECORD = HERE / "callgrind.json"
MODES = ("asgi", "wsgi")
FEW, MANY = 50, 250
WARM_UP = 20
ALLOWED_GROWTH = 0.10
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
_STORE = os.environ.get("SESSIONARY_CALLGRIND_STORE", "memory://")
_SECRET = "callgrind-secret-key-0123456789abcdef"


def _asgi_requests(count: int) -> None:
    from sessionary import SessionConfig, SessionMiddleware

    async def view(scope: Any, receive: Any, send: Any) -> None:
        session = scope["session"]
        session.get("user_id")
        session["theme"] = "dark" if session.get("theme") == "light" else "light"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = SessionMiddleware(view, config=SessionConfig(store=_STORE, secret_key=_SECRET))
    cookie: list[bytes] = []

    async def one() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "scheme": "http",
            "query_string": b"",
            "headers": [(b"user-agent", b"callgrind"), *((b"cookie", c) for c in cookie)],
            "client": ("127.0.0.1", 50000),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and not cookie:
                for name, value in message["headers"]:
                    if name == b"set-cookie":
                        cookie.append(value.split(b";", 1)[0])

        await app(scope, receive, send)

    async def run() -> None:
        for _ in range(WARM_UP + count):
            await one()

    asyncio.run(run())
    if not cookie:
        raise SystemExit("callgrind: the ASGI request set no session cookie")


def _wsgi_requests(count: int) -> None:
    from sessionary import SessionConfig, WSGISessionMiddleware

    def view(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["sessionary.session"]
        session.get("user_id")
        session["theme"] = "dark" if session.get("theme") == "light" else "light"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = WSGISessionMiddleware(view, SessionConfig(store=_STORE, secret_key=_SECRET))
    cookie: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if not cookie:
            cookie.extend(v.split(";", 1)[0] for n, v in headers if n.lower() == "set-cookie")
        return lambda data: None

    for _ in range(WARM_UP + count):
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/",
            "QUERY_STRING": "",
            "wsgi.url_scheme": "http",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": "callgrind",
        }
        if cookie:
            environ["HTTP_COOKIE"] = cookie[0]
        b"".join(app(environ, start_response))
    if not cookie:
        raise SystemExit("callgrind: the WSGI request set no session cookie")


def collected(module: str, args: list[str], what: str) -> int:
    """Instructions ``python -m module *args`` executes, counted by callgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit(f"{module}: valgrind is missing (apt-get install valgrind)")
    env = dict(os.environ, PYTHONHASHSEED="0")
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-m", module, *args]
    done = subprocess.run(
        command, cwd=HERE.parent, env=env, capture_output=True, text=True, check=False
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"{module}: {what} failed: {tail[0]}")
    return int(found.group(1))


def _instructions(mode: str, count: int) -> int:
    return collected("benchmarks.callgrind", ["--child", mode, str(count)], f"the {mode} run")


def measure() -> dict[str, int]:
    """Instructions per request for each mode."""
    counts = {}
    for mode in MODES:
        print(f"callgrind: {mode}: {FEW} and {MANY} requests ...", file=sys.stderr, flush=True)
        few, many = _instructions(mode, FEW), _instructions(mode, MANY)
        counts[mode] = round((many - few) / (MANY - FEW))
    return counts


def compare(last: dict[str, int], now: dict[str, int]) -> list[str]:
    """The modes whose count grew by more than the allowed share, as lines to print."""
    grown = []
    for mode in MODES:
        if mode in last and now[mode] > last[mode] * (1 + ALLOWED_GROWTH):
            share = now[mode] / last[mode] - 1
            grown.append(f"{mode}: {last[mode]:,} -> {now[mode]:,} instructions (+{share:.0%})")
    return grown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.callgrind", description=__doc__)
    parser.add_argument("--record", metavar="NOTE", help="append this run to the record")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, count = args.child
        (_asgi_requests if mode == "asgi" else _wsgi_requests)(int(count))
        return 0
    history: list[dict[str, Any]] = json.loads(RECORD.read_text()) if RECORD.exists() else []
    now = measure()
    for mode in MODES:
        print(f"{mode}: {now[mode]:,} instructions per request")
    if args.record:
        from sessionary import __version__

        entry = {"date": dt.date.today().isoformat(), "version": __version__, **now}
        history.append({**entry, "note": args.record})
        RECORD.write_text(json.dumps(history, indent=2) + "\n")
        print(f"recorded in {RECORD.name}")
        return 0
    if not history:
        print("callgrind: nothing recorded yet: run with --record NOTE", file=sys.stderr)
        return 1
    grown = compare(history[-1], now)
    for line in grown:
        print(f"callgrind: grew more than {ALLOWED_GROWTH:.0%}: {line}", file=sys.stderr)
    return 1 if grown else 0


if __name__ == "__main__":
    raise SystemExit(main())
