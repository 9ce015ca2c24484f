"""``sessionary bench``: the side-by-side benchmarks of ``benchmarks/``, from the CLI.

The harness lives in the source tree (``benchmarks/``), not in the wheel:
this module only finds it and hands it the arguments, importing it when the
command runs. Its peers and charts come with ``pip install 'sessionary[bench]'``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from .exceptions import SessionError

__all__ = ["KINDS", "STORES", "add_arguments", "register"]

# The harness's vocabulary, here so the CLI can offer it without importing the harness.
STORES = ("redis", "memcached", "sqlite", "postgresql", "cached_db", "file", "cookie", "memory")
KINDS = ("raw", "ours", "peer", "e2e", "scale")


def _harness() -> Any:
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "runner.py").is_file():
        raise SessionError(
            "the benchmark harness is in the source tree: run 'sessionary bench' from a clone"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module("benchmarks.runner")


def cmd_bench(args: argparse.Namespace) -> int:
    code: int = _harness().run_from_args(args)
    return code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` subcommand to the CLI."""
    bench = sub.add_parser(
        "bench", help="benchmark sessionary against the raw drivers and the peer frameworks"
    )
    add_arguments(bench)
    bench.set_defaults(func=cmd_bench)


def add_arguments(bench: argparse.ArgumentParser) -> None:
    """The options of ``sessionary bench`` (also ``python -m benchmarks.runner``)."""
    bench.add_argument("--quick", action="store_true", help="small counts: under two minutes")
    bench.add_argument(
        "--store",
        action="append",
        choices=STORES,
        metavar="NAME",
        help=f"only this store (repeatable): {', '.join(STORES)}",
    )
    bench.add_argument(
        "--only",
        action="append",
        choices=KINDS,
        metavar="KIND",
        help=f"only this kind of case (repeatable): {', '.join(KINDS)}",
    )
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="output directory")
    bench.add_argument("--count", type=int, help="sessions per case (default 1000, quick 100)")
    bench.add_argument("--runs", type=int, help="timed runs per case (default 5, quick 3)")
