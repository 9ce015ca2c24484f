"""Run one case in this (fresh) process and write its figures as JSON.

``python -m benchmarks.worker NAME --count N --runs R --out FILE``. The
case first proves that a cycle loads and persists the very session it was
given (a cycle that silently starts a new session fails here, it does not
look fast), then warms up, then runs ``R`` timed runs, then checks that
every timed cycle left its mark in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from .common import Case, Unavailable, flip, seed


class Verifier:
    """Counts each session's cycles and checks what the store holds against them."""

    def __init__(self, count: int) -> None:
        self.flips = [0] * count

    def expected(self, i: int) -> dict[str, Any]:
        data = seed(i)
        if self.flips[i] % 2:
            data["theme"] = flip(data["theme"])
        return data

    def check(self, i: int, stored: Any) -> None:
        if stored is None:
            raise AssertionError(f"session {i} is gone from the store")
        expected = self.expected(i)
        got = {name: stored.get(name) for name in expected}
        if got != expected:
            raise AssertionError(f"session {i} holds {got!r}, expected {expected!r}")

    def returned(self, i: int, user_id: Any) -> None:
        if user_id != seed(i)["user_id"]:
            raise AssertionError(
                f"the cycle on session {i} read user_id {user_id!r}: it did not load the session"
            )
        self.flips[i] += 1


def measure(case: Case, count: int, runs: int, target: float) -> dict[str, Any]:
    """Set up, verify, warm up, time ``runs`` runs, verify again; return the figures.

    A sync case runs in plain Python (no event loop anywhere near it); an
    async case on one event loop, each timed run awaited as a whole.
    """
    loop = asyncio.new_event_loop() if case.mode != "sync" else None
    try:
        return _measure(case, count, runs, target, loop)
    finally:
        if loop is not None:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _measure(
    case: Case, count: int, runs: int, target: float, loop: asyncio.AbstractEventLoop | None
) -> dict[str, Any]:
    concurrency = getattr(case, "concurrency", 1)
    verifier = Verifier(count)
    rng = random.Random(1234)

    def call(value: Any) -> Any:
        if loop is not None and inspect.isawaitable(value):
            return loop.run_until_complete(value)
        return value

    try:
        call(case.setup(count))

        # 1. Every cycle must load the session it names and persist the flip.
        if case.verifies:
            for i in sorted({0, count // 2, count - 1}):
                verifier.check(i, call(case.peek(i)))
                verifier.returned(i, call(case.cycle(i)))
                verifier.check(i, call(case.peek(i)))

        def run(order: list[int], latencies: list[float]) -> float:
            gc.collect()
            if loop is not None:
                return loop.run_until_complete(_run_async(case, order, latencies, verifier))
            cycle, clock, record = case.cycle, time.perf_counter, latencies.append
            returned = verifier.returned if case.verifies else None
            started = clock()
            for i in order:
                t0 = clock()
                user_id = cycle(i)
                record(clock() - t0)
                if returned is not None:
                    returned(i, user_id)
            return clock() - started

        # 2. Warm up over every session once; it also sizes the timed runs.
        elapsed = run(rng.sample(range(count), count), [])
        passes = max(1, min(50, round(target / max(elapsed, 1e-9))))

        # 3. Timed runs: each visits every session ``passes`` times in a fresh order.
        rates: list[float] = []
        latencies: list[float] = []
        for _ in range(runs):
            order = [i for _ in range(passes) for i in rng.sample(range(count), count)]
            elapsed = run(order, latencies)
            rates.append(len(order) / elapsed)

        # 4. Every timed cycle persisted: each session holds the theme its flip count says.
        if case.verifies:
            for i in range(count):
                verifier.check(i, call(case.peek(i)))
    finally:
        call(case.teardown())

    latencies.sort()
    median = statistics.median(rates)
    return {
        "status": "ok",
        "verified": case.verifies,
        "cycles_per_run": count * passes,
        "runs_cycles_per_s": rates,
        "cycles_per_s": median,
        "spread_pct": (max(rates) - min(rates)) / median * 100,
        "mean_us": 1e6 / median,
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e6,
        "concurrency": concurrency,
    }


async def _run_async(
    case: Case, order: list[int], latencies: list[float], verifier: Verifier
) -> float:
    concurrency = getattr(case, "concurrency", 1)
    clock, record = time.perf_counter, latencies.append
    returned = verifier.returned if case.verifies else None

    async def lane(part: list[int]) -> None:
        cycle = case.cycle
        for i in part:
            t0 = clock()
            user_id = await cycle(i)
            record(clock() - t0)
            if returned is not None:
                returned(i, user_id)

    # Each lane owns its sessions: two tasks flipping one session at once would
    # (rightly) merge into one flip and fail the final check.
    lanes = [[i for i in order if i % concurrency == k] for k in range(concurrency)]
    started = clock()
    if concurrency == 1:
        await lane(order)
    else:
        await asyncio.gather(*(lane(part) for part in lanes if part))
    return clock() - started


def run_case(name: str, count: int, runs: int, target: float) -> dict[str, Any]:
    from .registry import CASES

    spec = CASES[name]
    ns = "bench_" + secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="sessionary-bench-"))
    result: dict[str, Any] = {"name": name, "count": count, "runs": runs}
    try:
        case = spec.build()(ns, tmp)
        result.update(measure(case, count, runs, target))
    except Unavailable as exc:
        result.update(status="unavailable", reason=str(exc))
    except Exception as exc:
        result.update(
            status="failed",
            reason=f"{type(exc).__name__}: {exc}"[:500],
            traceback=traceback.format_exc()[-4000:],
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("name")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.5, help="seconds a timed run aims at")
    parser.add_argument("--scale", type=int, default=0, help="run the clear_expired case instead")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.scale:
        from .scale import run_scale

        result = run_scale(args.name, args.scale)
    else:
        result = run_case(args.name, args.count, args.runs, args.target)
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
