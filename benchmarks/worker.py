"""Run one case in this (fresh) process.

``python -m benchmarks.worker NAME --serve --count N --target S`` is how the
runner drives a case: the case proves that a cycle loads and persists the
very session it was given (a cycle that silently starts a new session fails
here, it does not look fast), warms up, and then makes one timed run each
time the runner says ``run``, so that the runner can interleave the timed
runs of many cases; on ``finish`` it checks that every timed cycle left its
mark in the store and replies with its figures (see :func:`serve`).
``python -m benchmarks.worker NAME --count N --runs R --out FILE`` does the
same on its own, its ``R`` timed runs back to back, and writes the figures
to ``FILE``; with ``--scale`` it runs a ``clear_expired`` case instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from .common import Case, Unavailable, flip, seed
from .pairing import percentile, summarize


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


def run_size(count: int, warm_up: float, target: float) -> int:
    """The cycles of one timed run: about ``target`` seconds at the warm-up's pace.

    ``warm_up`` is the seconds ``count`` cycles took. At least 100 cycles
    (or ``count``, if fewer), at most 50 passes over the sessions.
    """
    per_cycle = max(warm_up, 1e-9) / count
    return max(min(count, 100), min(50 * count, round(target / per_cycle)))


class Driver:
    """One case in this process: prepared once, then timed one run at a time, then checked.

    :meth:`prepare` sets the case up, proves that a cycle loads and persists
    the very session it was given, warms up and sizes a run so that it lasts
    about ``target`` seconds; each :meth:`timed_run` makes that many cycles,
    visiting the sessions in a fresh random order (every session once per
    pass, the last pass a random part of them, so that a slow store's run
    stays short and interleaved rounds stay close in time; at least 100
    cycles, at most 50 passes); :meth:`finish` checks that every timed
    cycle left its mark and returns the figures. A sync case runs in plain
    Python (no event loop anywhere near it); an async case on one event loop,
    each timed run awaited as a whole. :meth:`close` tears down in any case.
    """

    def __init__(self, case: Case, count: int, target: float) -> None:
        self.case = case
        self.count = count
        self.target = target
        self.loop = asyncio.new_event_loop() if case.mode != "sync" else None
        self.verifier = Verifier(count)
        self.rng = random.Random(1234)
        self.cycles = count
        self.rates: dict[str, float] = {}
        self.p50s: dict[str, float] = {}
        self.latencies: list[float] = []
        self._set_up = False
        self._closed = False

    def _call(self, value: Any) -> Any:
        if self.loop is not None and inspect.isawaitable(value):
            return self.loop.run_until_complete(value)
        return value

    def _run(self, order: list[int], latencies: list[float]) -> float:
        gc.collect()
        case, verifier = self.case, self.verifier
        if self.loop is not None:
            return self.loop.run_until_complete(_run_async(case, order, latencies, verifier))
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

    def prepare(self) -> int:
        """Set up, verify one cycle, warm up; return the cycles one timed run makes."""
        case, count, verifier = self.case, self.count, self.verifier
        self._set_up = True
        self._call(case.setup(count))
        # 1. Every cycle must load the session it names and persist the flip.
        if case.verifies:
            for i in sorted({0, count // 2, count - 1}):
                verifier.check(i, self._call(case.peek(i)))
                verifier.returned(i, self._call(case.cycle(i)))
                verifier.check(i, self._call(case.peek(i)))
        # 2. Warm up over every session once; it also sizes the timed runs.
        elapsed = self._run(self.rng.sample(range(count), count), [])
        self.cycles = run_size(count, elapsed, self.target)
        return self.cycles

    def timed_run(self, key: str) -> float:
        """One timed run, recorded as round ``key``; return its cycles per second."""
        count = self.count
        passes, part = divmod(self.cycles, count)
        order = [i for _ in range(passes) for i in self.rng.sample(range(count), count)]
        order += self.rng.sample(range(count), part)
        latencies: list[float] = []
        rate = len(order) / self._run(order, latencies)
        latencies.sort()
        self.rates[key] = rate
        self.p50s[key] = percentile(latencies, 0.5)
        self.latencies += latencies
        return rate

    def finish(self) -> dict[str, Any]:
        """Check that every timed cycle persisted, tear down, return the figures."""
        case = self.case
        # 3. Each session holds the theme its flip count says.
        if case.verifies:
            for i in range(self.count):
                self.verifier.check(i, self._call(case.peek(i)))
        self.close()
        return {
            "status": "ok",
            "verified": case.verifies,
            "cycles_per_run": self.cycles,
            **summarize(self.rates, self.latencies, self.p50s),
            "concurrency": getattr(case, "concurrency", 1),
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._set_up:
                self._call(self.case.teardown())
        finally:
            if self.loop is not None:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.close()


def measure(case: Case, count: int, runs: int, target: float) -> dict[str, Any]:
    """Prepare, time ``runs`` runs back to back, verify again; return the figures."""
    driver = Driver(case, count, target)
    try:
        driver.prepare()
        for k in range(runs):
            driver.timed_run(f"run:{k}")
        return driver.finish()
    finally:
        driver.close()


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


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, Unavailable):
        return {"status": "unavailable", "reason": str(exc)}
    return {
        "status": "failed",
        "reason": f"{type(exc).__name__}: {exc}"[:500],
        "traceback": traceback.format_exc()[-4000:],
    }


def run_case(name: str, count: int, runs: int, target: float) -> dict[str, Any]:
    """Run case ``name`` on its own, its timed runs back to back (not interleaved)."""
    from .registry import CASES

    spec = CASES[name]
    ns = "bench_" + secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="sessionary-bench-"))
    result: dict[str, Any] = {"name": name, "count": count, "runs": runs}
    try:
        case = spec.build()(ns, tmp)
        result.update(measure(case, count, runs, target))
    except Exception as exc:
        result.update(_failure(exc))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def serve(name: str, count: int, target: float, commands: TextIO, replies: TextIO) -> None:
    """Prepare case ``name``, then obey the runner one line at a time.

    Replies, one JSON object a line: ``{"status": "ready", "cycles_per_run": N}``
    once prepared; to ``run KEY``, ``{"status": "ran", "cycles_per_s": R}``
    after one timed run recorded as round ``KEY``; to ``finish``, the case's
    figures. An unavailable or failed case replies with its status and reason
    instead, and stops. If the runner closes the pipe, the case is torn down.
    """
    from .registry import CASES

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    ns = "bench_" + secrets.token_hex(4)
    tmp = Path(tempfile.mkdtemp(prefix="sessionary-bench-"))
    driver: Driver | None = None
    try:
        driver = Driver(CASES[name].build()(ns, tmp), count, target)
        reply({"status": "ready", "cycles_per_run": driver.prepare()})
        for line in commands:
            command, _, key = line.strip().partition(" ")
            if command == "run":
                reply({"status": "ran", "cycles_per_s": driver.timed_run(key)})
            elif command == "finish":
                reply(driver.finish())
                return
            else:
                raise ValueError(f"unknown command {line.strip()!r}")
    except Exception as exc:
        reply(_failure(exc))
    finally:
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("name")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.5, help="seconds a timed run aims at")
    parser.add_argument("--scale", type=int, default=0, help="run the clear_expired case instead")
    parser.add_argument("--out", help="write the figures here (one shot: runs back to back)")
    parser.add_argument(
        "--serve", action="store_true", help="take commands on stdin, reply on stdout"
    )
    args = parser.parse_args(argv)
    if args.serve:
        # The replies keep the real stdout; anything a library prints goes to stderr.
        replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        serve(args.name, args.count, args.target, sys.stdin, replies)
        return 0
    if not args.out:
        parser.error("--out is required without --serve")
    if args.scale:
        from .scale import run_scale

        result = run_scale(args.name, args.scale)
    else:
        result = run_case(args.name, args.count, args.runs, args.target)
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
