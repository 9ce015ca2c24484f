"""Run every case, each in a fresh process, and write results.json, results.md and charts.

``python -m benchmarks [--quick] [--store NAME ...] [--only KIND ...] [--out DIR]``
is this module's :func:`main`. Cases whose library, server or store is
missing are reported as unavailable; a case that fails its verification is
reported as failed; neither stops the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from .options import KINDS, add_arguments
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


def _worker(args: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sessionary-bench-") as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.worker", *args, "--out", str(out)],
                cwd=ROOT,
                env=env,
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
        f"benchmarks: {total} jobs, {plan.count} sessions, {plan.runs} timed runs"
        f"{' (quick)' if plan.quick else ''}"
    )
    results: list[dict[str, Any]] = []
    for n, spec in enumerate(specs, 1):
        prefix = f"[{n:>3}/{total}] {spec.name:<34}"
        say(f"{prefix} …", transient=True)
        result = _worker(
            [
                spec.name,
                "--count",
                str(plan.count),
                "--runs",
                str(plan.runs),
                "--target",
                str(plan.target),
            ],
            plan.timeout,
        )
        result.update(
            name=spec.name,
            store=spec.store,
            kind=spec.kind,
            library=spec.library,
            mode=spec.mode,
            label=spec.label,
            floor=spec.floor,
        )
        results.append(result)
        say(f"{prefix} {_progress_line(result)}")
    scale: list[dict[str, Any]] = []
    for n, (name, records) in enumerate(scale_jobs, len(specs) + 1):
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
    """Add ``x_raw`` (raw cycles one cycle costs) and, end to end, the per-request price."""
    raw = {
        (r["store"], r["mode"]): r["cycles_per_s"]
        for r in results
        if r["kind"] == "raw" and r.get("status") == "ok"
    }
    by_name = {r["name"]: r for r in results}
    for r in results:
        if r.get("status") != "ok" or r["kind"] == "floor":
            continue
        mode = "async" if r["mode"].startswith("async") else "sync"
        sync_base = raw.get((r["store"], "sync"))
        # A library is compared with the raw floor of its own mode (asyncio has
        # its own price); an async floor is compared with the sync one.
        base = sync_base if r["kind"] == "raw" else raw.get((r["store"], mode)) or sync_base
        if base:
            r["x_raw"] = base / r["cycles_per_s"]
        if sync_base:
            r["x_raw_sync"] = sync_base / r["cycles_per_s"]
        floor = by_name.get(r.get("floor") or "")
        if r["kind"] == "e2e" and floor and floor.get("status") == "ok":
            r["floor_us"] = floor["mean_us"]
            r["price_us"] = r["mean_us"] - floor["mean_us"]


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
