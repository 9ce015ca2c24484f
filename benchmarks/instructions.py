"""Instructions per end-to-end request, sessionary beside its peers, counted by callgrind.

The timed run (``python -m benchmarks``) reads prices in microseconds on a
machine whose speed drifts; this counts, for one store, the instructions
the client process spends per request in every end-to-end case of the
registry (sessionary's ASGI and WSGI middlewares and each peer's), minus
its framework's floor counted the same way:

    uv run python -m benchmarks.instructions --store redis

Each case runs twice under ``valgrind --tool=callgrind`` in a process of its
own (set-up, proof that a cycle loads the session it names, warm-up), with
a different number of requests; the difference over the difference in
requests is the price of one, start-up cancelled out. What the count leaves
out is said beside it: the server's own work (a Redis script's time, a
database's), and the kernel's (the socket calls, the same number per
request here for every case of a store).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from .callgrind import collected
from .registry import CASES, STORES, Spec

FEW, MANY = 30, 130
SESSIONS, WARM_UP = 200, 20


def _child(name: str, requests: int) -> None:
    """Build case ``name`` and run set-up, warm-up and ``requests`` cycles."""
    case = CASES[name].build()(f"ins{os.getpid()}", Path(tempfile.mkdtemp()))

    async def run_async() -> None:
        await _maybe(case.setup(SESSIONS))
        try:
            for i in range(WARM_UP + requests):
                await case.cycle(i % SESSIONS)
        finally:
            await _maybe(case.teardown())

    if case.mode == "async":
        asyncio.run(run_async())
        return
    case.setup(SESSIONS)
    try:
        for i in range(WARM_UP + requests):
            case.cycle(i % SESSIONS)
    finally:
        case.teardown()


async def _maybe(value: Any) -> Any:
    return await value if hasattr(value, "__await__") else value


def _instructions(name: str, requests: int) -> int:
    return collected("benchmarks.instructions", ["--child", name, str(requests)], name)


def per_request(name: str) -> int:
    """Instructions one request of case ``name`` costs, start-up and warm-up cancelled."""
    few, many = _instructions(name, FEW), _instructions(name, MANY)
    return round((many - few) / (MANY - FEW))


def cases_for(store: str) -> list[Spec]:
    """The end-to-end cases of ``store``, sessionary's first."""
    found = [spec for spec in CASES.values() if spec.kind == "e2e" and spec.store == store]
    return sorted(found, key=lambda spec: (not spec.name.startswith("e2e/ours"), spec.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--store", choices=STORES, default="redis")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    specs = cases_for(args.store)
    if not specs:
        print(f"instructions: no end-to-end case covers {args.store}", file=sys.stderr)
        return 1
    floors: dict[str, int] = {}
    print(f"| case ({args.store}) | instructions per request | above its framework's floor |")
    print("|---|---:|---:|")
    for spec in specs:
        assert spec.floor is not None
        if spec.floor not in floors:
            print(f"instructions: {spec.floor} ...", file=sys.stderr, flush=True)
            floors[spec.floor] = per_request(spec.floor)
        print(f"instructions: {spec.name} ...", file=sys.stderr, flush=True)
        count = per_request(spec.name)
        print(f"| {spec.label} | {count:,} | {count - floors[spec.floor]:,} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
