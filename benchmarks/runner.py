"""Run every case, each in a fresh process, and write results.json, results.md and charts.

``python -m benchmarks [--quick] [--store NAME ...] [--only KIND ...] [--out DIR]
[--count N] [--runs R]`` is this module's :func:`main`. Cases whose library,
server or store is missing are reported as unavailable; a case that fails its
verification is reported as failed; neither stops the run.

Method: interleaved rounds. The speed of a shared machine drifts by up to 2x
over tens of seconds, so two cases timed one after the other are compared at
different moments. Here the cases are run in groups: each store's cases (raw
floor, sessionary, peers, end to end) together with the framework floors its
end-to-end cases need. Every case of a group gets its own fresh process,
which sets up its store, proves a cycle loads and persists the session it
names, and warms up (the warm-up sizes one timed run to about 0.5 s, 0.05 s
with ``--quick``: several passes over the sessions for a fast store, part of
one pass, at least 100 cycles, for a slow one); then come ``R`` rounds,
and in round ``k`` every case of the group makes one timed run, in an order
shuffled afresh each round (seeded by the round's name, so a run can be
replayed). Only one case runs at a time; the others wait on their pipe.
Finally each case checks that every timed cycle persisted and reports. A
floor needed by several stores is one process that takes part in each of
their groups' rounds.

Each case reports the median over its rounds (cycles/s, and µs per cycle as
its inverse), p50 and p99 over all its timed cycles, and the spread of its
rounds. A comparison is paired by round: ``x_raw`` is the median over rounds
of (case's µs per cycle / the raw floor's in the same round), and the
end-to-end price is the median over rounds of (case's µs per request minus
its framework floor's in the same round); ``price_p50_us`` does the same with
each round's median request. Rounds only one side took part in are left out.
A round of a group lasts about 0.5 s per case (8-15 s for a store on a
loaded machine), so the cases compared are seconds apart, not minutes. The ``clear_expired`` scale
cases are not interleaved: each runs once, alone, after the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .options import KINDS, add_arguments
from .pairing import paired_median_difference, paired_price, paired_ratio
from .registry import CASES, Spec
from .scale import SCALE_STORES

ROOT = Path(__file__).resolve().parent.parent
VERSIONED = (
    "sessionary",
    "sqlalchemy",
    "aiosqlite",
    "psycopg",
    "redis",
    "hiredis",
    "pymemcache",
    "aiomcache",
    "cryptography",
    "django",
    "flask",
    "flask-session",
    "flask-sqlalchemy",
    "cachelib",
    "starlette",
    "starsessions",
    "itsdangerous",
)


@dataclass(frozen=True)
class Plan:
    """How much work one run does."""

    quick: bool
    count: int
    runs: int
    target: float
    timeout: float
    scale_counts: dict[str, tuple[int, int]]

    @classmethod
    def make(cls, quick: bool, count: int | None = None, runs: int | None = None) -> Plan:
        if quick:
            scale = {
                "sqlite": (2_000, 20_000),
                "postgresql": (2_000, 20_000),
                "redis": (1_000, 10_000),
            }
            return cls(True, count or 100, runs or 3, 0.05, 60, scale)
        scale = {
            "sqlite": (100_000, 1_000_000),
            "postgresql": (100_000, 1_000_000),
            "redis": (10_000, 100_000),
        }
        return cls(False, count or 1000, runs or 5, 0.5, 600, scale)


def select(stores: Sequence[str] | None, only: Sequence[str] | None) -> list[Spec]:
    """The cases to run, floors included only where an end-to-end case needs them."""
    kinds = set(only or KINDS)
    chosen = [
        spec
        for spec in CASES.values()
        if spec.kind in kinds and (not stores or spec.store in stores)
    ]
    floors = {spec.floor for spec in chosen if spec.floor}
    return [CASES[name] for name in CASES if name in floors] + chosen


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _worker(args: list[str], timeout: float) -> dict[str, Any]:
    """Run a worker once (a scale case) and return what it wrote."""
    with tempfile.TemporaryDirectory(prefix="sessionary-bench-") as tmp:
        out = Path(tmp) / "result.json"
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.worker", *args, "--out", str(out)],
                cwd=ROOT,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout:.0f} s"}
        if not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"status": "failed", "reason": f"worker exited {proc.returncode}: {tail}"}
        result: dict[str, Any] = json.loads(out.read_text())
        return result


class Worker:
    """One case's own process, prepared once and then driven one command at a time.

    Commands go down its stdin, replies (one JSON line each) come up its
    stdout; see :func:`benchmarks.worker.serve`. Its stderr goes to a
    temporary file, whose tail explains a worker that died.
    """

    def __init__(self, spec: Spec, plan: Plan) -> None:
        self.spec = spec
        self.timeout = plan.timeout
        # Closed by close(): it lives as long as the worker.
        self._stderr = tempfile.TemporaryFile(mode="w+", prefix="sessionary-bench-")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.worker",
                spec.name,
                "--serve",
                "--count",
                str(plan.count),
                "--target",
                str(plan.target),
            ],
            cwd=ROOT,
            env=_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def ask(self, command: str | None = None) -> dict[str, Any]:
        """Send ``command`` (``None``: only wait) and return the reply, or why there is none."""
        if command is not None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()
            except OSError:
                pass  # the worker is gone: its end of the pipe says why, below
        try:
            line = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            self.proc.kill()
            return {"status": "failed", "reason": f"timed out after {self.timeout:.0f} s"}
        if line is None:
            code = self.proc.wait()
            self._stderr.seek(0)
            tail = self._stderr.read().strip().splitlines()[-3:]
            return {"status": "failed", "reason": f"worker exited {code}: {tail}"}
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        """Close its stdin (a worker not yet finished tears its case down) and reap it."""
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)  # it ends at the pipe's end, now that the worker is gone
        if not self._reader.is_alive():
            assert self.proc.stdout is not None
            self.proc.stdout.close()
        self._stderr.close()


def groups(specs: Sequence[Spec]) -> list[tuple[str, list[Spec]]]:
    """The cases interleaved together: each store's cases with the floors they need.

    A floor needed by several stores is in each of their groups (it is one
    process, kept until its last group is done). A floor no case needs forms
    a group of its own.
    """
    by_name = {spec.name: spec for spec in specs}
    grouped: dict[str, list[Spec]] = {}
    for spec in specs:
        if spec.kind == "floor":
            continue
        members = grouped.setdefault(spec.store, [])
        floor = by_name.get(spec.floor or "")
        if floor is not None and floor not in members:
            members.insert(0, floor)
        members.append(spec)
    used = {s.name for members in grouped.values() for s in members}
    spare = [spec for spec in specs if spec.name not in used]
    if spare:
        grouped["-"] = spare
    return list(grouped.items())


def round_order(key: str, names: Sequence[str]) -> list[str]:
    """The order the cases run in round ``key``: shuffled, the same for the same key."""
    order = list(names)
    random.Random(key).shuffle(order)
    return order


def interleave(
    specs: Sequence[Spec], plan: Plan, say: Callable[..., None], numbered: Callable[[Spec], str]
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Run ``specs`` in interleaved rounds, group by group; return the results and the rounds.

    In each group every case is started in its own process and prepared
    (setup, verification, warm-up), one after the other; then round ``k``
    gives each case one timed run, in a shuffled order, so that all of a
    group's cases see the machine as it is during those few seconds; then
    each case verifies its store and reports.
    """
    plan_groups = groups(specs)
    last_group = {spec.name: g for g, (_, members) in enumerate(plan_groups) for spec in members}
    kept: dict[str, Worker] = {}  # floors that later groups use again
    workers: list[Worker] = []
    results: dict[str, dict[str, Any]] = {}
    rounds: list[dict[str, Any]] = []

    def done(spec: Spec, result: dict[str, Any]) -> None:
        results[spec.name] = result
        say(f"{numbered(spec)} {_progress_line(result)}")

    try:
        for g, (store, members) in enumerate(plan_groups):
            live: dict[str, Worker] = {}
            for spec in members:
                if spec.name in kept:
                    live[spec.name] = kept[spec.name]
                    continue
                if spec.name in results:  # a floor that failed in an earlier group
                    continue
                say(f"{store}: preparing {spec.name} …", transient=True)
                worker = Worker(spec, plan)
                workers.append(worker)
                reply = worker.ask()
                if reply.get("status") == "ready":
                    live[spec.name] = worker
                else:
                    worker.close()
                    done(spec, reply)
            for k in range(plan.runs):
                key = f"{store}:{k}"
                order = round_order(key, list(live))
                started = time.perf_counter()
                for name in order:
                    say(f"{store} round {k + 1}/{plan.runs}: {name} …", transient=True)
                    reply = live[name].ask(f"run {key}")
                    if reply.get("status") != "ran":
                        worker = live.pop(name)
                        kept.pop(name, None)
                        worker.close()
                        done(worker.spec, reply)
                seconds = time.perf_counter() - started
                rounds.append({"round": key, "order": order, "seconds": seconds})
                say(f"{store} round {k + 1}/{plan.runs}: {len(order)} cases in {seconds:.1f} s")
            for name, worker in live.items():
                if last_group[name] > g:
                    kept[name] = worker
                    continue
                kept.pop(name, None)
                reply = worker.ask("finish")
                worker.close()
                done(worker.spec, reply)
    finally:
        for worker in workers:  # an interrupted run leaves no process behind
            worker.close()
    return results, rounds


def _progress_line(result: dict[str, Any]) -> str:
    status = result.get("status")
    if status == "ok" and "cycles_per_s" in result:
        return (
            f"{result['cycles_per_s']:>10,.0f}/s  p50 {result['p50_us']:>7,.0f} µs"
            f"  ±{result['spread_pct']:.0f}%"
        )
    if status == "ok":
        return (
            f"{result['removed']:,} removed in {result['seconds']:.2f} s,"
            f" peak {result['peak_kib']:,.0f} KiB"
        )
    return f"{status}: {result.get('reason', '')}"[:100]


def run(
    *,
    quick: bool = False,
    stores: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
    out: Path = Path("bench-results"),
    count: int | None = None,
    runs: int | None = None,
    scale_counts: dict[str, tuple[int, int]] | None = None,
    echo: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Run the selected cases and scale checks; write the report into ``out``; return it."""
    plan = Plan.make(quick, count, runs)
    say = echo or _say
    specs = select(stores, only)
    scale_jobs: list[tuple[str, int]] = []
    if "scale" in (only or KINDS):
        counts = scale_counts or plan.scale_counts
        for name in SCALE_STORES:
            if not stores or name in stores:
                scale_jobs += [(name, n) for n in counts[name]]
    total = len(specs) + len(scale_jobs)
    started = time.perf_counter()
    say(
        f"benchmarks: {total} jobs, {plan.count} sessions, {plan.runs} interleaved rounds"
        f"{' (quick)' if plan.quick else ''}"
    )
    finished = 0

    def numbered(spec: Spec) -> str:
        nonlocal finished
        finished += 1
        return f"[{finished:>3}/{total}] {spec.name:<34}"

    by_name, rounds = interleave(specs, plan, say, numbered)
    results: list[dict[str, Any]] = []
    for spec in specs:
        result = {"name": spec.name, "count": plan.count, **by_name[spec.name]}
        result.update(
            runs=len(result.get("runs_cycles_per_s", ())),
            store=spec.store,
            kind=spec.kind,
            library=spec.library,
            mode=spec.mode,
            label=spec.label,
            floor=spec.floor,
        )
        results.append(result)
    scale: list[dict[str, Any]] = []
    for n, (name, records) in enumerate(scale_jobs, finished + 1):
        prefix = f"[{n:>3}/{total}] scale/{name} ({records:,})".ljust(43)
        say(f"{prefix} …", transient=True)
        result = _worker([name, "--scale", str(records)], max(plan.timeout, 900))
        result.update(store=name, records=records)
        scale.append(result)
        say(f"{prefix} {_progress_line(result)}")

    derive(results)
    report = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": plan.quick,
        "sessions": plan.count,
        "timed_runs": plan.runs,
        "method": "interleaved rounds",
        "rounds": rounds,
        "seconds": time.perf_counter() - started,
        "machine": machine(),
        "versions": versions(),
        "cases": results,
        "scale": scale,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    from .report import write_charts, write_markdown

    charts = write_charts(report, out)
    (out / "results.md").write_text(write_markdown(report, charts))
    say(f"benchmarks: done in {report['seconds']:.0f} s; wrote {out}/results.json, results.md")
    return report


def _say(line: str, transient: bool = False) -> None:
    """Progress on stderr: on a terminal the "running" line is overwritten by its result."""
    if sys.stderr.isatty():
        print(f"\r\033[K{line}", end="" if transient else "\n", file=sys.stderr, flush=True)
    elif not transient:
        print(line, file=sys.stderr, flush=True)


def derive(results: list[dict[str, Any]]) -> None:
    """Add the comparisons, each paired by round (see :mod:`benchmarks.pairing`).

    ``x_raw``: the median over shared rounds of how many raw-floor cycles of
    the same store one cycle costs (a library against the raw floor of its
    own mode, asyncio having its own price; an async raw floor against the
    sync one); ``x_raw_sync`` against the sync raw floor. End to end,
    ``price_us``: the median over shared rounds of the case's µs per request
    minus its framework floor's, with ``floor_us`` the floor's median over
    those rounds; ``price_p50_us`` likewise from each round's median request
    (a figure the slow tail of a busy machine does not move).
    """
    raw = {
        (r["store"], r["mode"]): r["rounds_us"]
        for r in results
        if r["kind"] == "raw" and r.get("status") == "ok"
    }
    by_name = {r["name"]: r for r in results}
    for r in results:
        if r.get("status") != "ok" or r["kind"] == "floor":
            continue
        mode = "async" if r["mode"].startswith("async") else "sync"
        sync_base = raw.get((r["store"], "sync"))
        base = sync_base if r["kind"] == "raw" else raw.get((r["store"], mode)) or sync_base
        for field, against in (("x_raw", base), ("x_raw_sync", sync_base)):
            ratio = paired_ratio(r["rounds_us"], against) if against else None
            if ratio is not None:
                r[field] = ratio
        floor = by_name.get(r.get("floor") or "")
        if r["kind"] == "e2e" and floor and floor.get("status") == "ok":
            r.update(paired_price(r["rounds_us"], floor["rounds_us"]))
            p50 = paired_median_difference(r["rounds_p50_us"], floor["rounds_p50_us"])
            if p50 is not None:
                r["price_p50_us"] = p50


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args)


def run_from_args(args: argparse.Namespace) -> int:
    report = run(
        quick=args.quick,
        stores=args.store,
        only=args.only,
        out=args.out,
        count=args.count,
        runs=args.runs,
    )
    failed = [r["name"] for r in report["cases"] + report["scale"] if r.get("status") == "failed"]
    if failed:
        print(f"benchmarks: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
