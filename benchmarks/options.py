"""The options of ``python -m benchmarks``: the stores and the kinds of case it runs.

The harness lives in the source tree, not in the wheel: the package never
imports it. Its peers and charts come with ``pip install 'sessionary[bench]'``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["KINDS", "STORES", "add_arguments"]

STORES = ("redis", "memcached", "sqlite", "postgresql", "cached_db", "file", "cookie", "memory")
KINDS = ("raw", "ours", "peer", "e2e", "scale")


def add_arguments(bench: argparse.ArgumentParser) -> None:
    """Add the options of ``python -m benchmarks`` to ``bench``."""
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
    bench.add_argument(
        "--runs", type=int, help="interleaved rounds: timed runs per case (default 5, quick 3)"
    )
