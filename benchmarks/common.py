"""What every case shares: the seed sessions, the namespace, the servers, the Case shape."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MEMCACHED = (os.environ.get("BENCH_MEMCACHED_HOST", "127.0.0.1"), 11211)
PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-" + "x" * 40
TTL = 1_209_600  # two weeks, Django's default SESSION_COOKIE_AGE

SERVERS = {
    "redis": ("127.0.0.1", 6379),
    "memcached": MEMCACHED,
    "postgresql": ("127.0.0.1", 5432),
}


def seed(i: int) -> dict[str, Any]:
    """Session ``i`` as every case stores it first: about 200 bytes of JSON."""
    return {
        "user_id": 10_000 + i,
        "name": f"visitor-{i:05d}",
        "cart": [
            {"sku": f"SKU-{i % 97:03d}-{n}", "qty": n + 1, "price": round(4.5 + n * 3.25, 2)}
            for n in range(3)
        ],
        "theme": "light",
    }


def flip(theme: str) -> str:
    return "dark" if theme == "light" else "light"


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def server_up(name: str) -> bool:
    host, port = SERVERS[name]
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


class Unavailable(Exception):
    """The case cannot run here (a missing library, server or store); the reason is the message."""


class Case:
    """One benchmark case, built inside its worker process.

    ``setup(count)`` stores sessions ``0..count-1`` with :func:`seed` data.
    ``cycle(i)`` runs one request cycle on session ``i`` (load, read
    ``user_id``, flip ``theme``, save) and returns the ``user_id`` it read;
    ``peek(i)`` reads session ``i`` back by another path (the driver, or the
    library's own load) and returns its data, so the worker can prove each
    cycle loaded and persisted that very session. In an async case
    (``mode = "async"``) any of these may be coroutine functions.
    """

    mode = "sync"
    verifies = True  # an end-to-end floor has no session to verify

    def __init__(self, ns: str, tmp: Path) -> None:
        self.ns = ns
        self.tmp = tmp

    def setup(self, count: int) -> Any:
        raise NotImplementedError

    def cycle(self, i: int) -> Any:
        raise NotImplementedError

    def peek(self, i: int) -> Any:
        raise NotImplementedError

    def teardown(self) -> Any:
        return None


def require(*modules: str) -> None:
    """Raise :class:`Unavailable` unless every module imports."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise Unavailable(f"{name} is not installed (pip install 'sessionary[bench]')") from exc


def require_server(name: str) -> None:
    if not server_up(name):
        host, port = SERVERS[name]
        raise Unavailable(f"{name} is not reachable at {host}:{port}")
