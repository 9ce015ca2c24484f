"""Soak: a bounded in-process load through the ASGI middleware, with resident
memory sampled. Outside the default run: ``pytest -m soak`` (the request count
comes from ``SESSIONARY_SOAK_REQUESTS``, 200,000 by default)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from sessionary import Session, SessionConfig, SessionMiddleware
from sessionary.stores import from_url

from .store_registry import require_server

REQUESTS = int(os.environ.get("SESSIONARY_SOAK_REQUESTS", "200000"))
CONCURRENCY = 32
VISITORS = 1000
PAGE = os.sysconf("SC_PAGE_SIZE")
# Resident memory may grow this much after warm-up (allocator noise, caches).
GROWTH_BOUND = 16 * 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


async def app(scope: Any, receive: Any, send: Any) -> None:
    session: Session = scope["session"]
    hits = session.get("hits", 0)
    if scope["path"] == "/write":  # a third of the requests write; the rest only read
        session["hits"] = hits + 1
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'soak.db'}"
    require_server("127.0.0.1", 6379, "Redis")
    return f"redis://127.0.0.1:6379/0?prefix=soak-{uuid.uuid4().hex[:8]}:"


@pytest.mark.soak
@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_soak_memory_stays_flat_and_nothing_fails(kind: str, tmp_path: Path) -> None:
    store = from_url(_url(kind, tmp_path))
    await store.migrate()
    config = SessionConfig(store=store)
    middleware = SessionMiddleware(app, config)
    keys = []
    for _ in range(VISITORS):
        s = Session(config)
        s["hits"] = 0
        await s.save()
        assert s.session_key is not None
        keys.append(s.session_key)

    errors = 0
    done = 0
    samples: list[tuple[int, int]] = []

    async def one(key: str, path: str) -> None:
        nonlocal errors, done
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [(b"cookie", f"sessionid={key}".encode())],
            "query_string": b"",
            "client": ("127.0.0.1", 1),
        }
        await middleware(scope, receive, send)
        if status != 200:
            errors += 1
        done += 1
        if done % 5000 == 0:
            samples.append((done, rss()))

    async def worker(w: int) -> None:
        for i in range(w, REQUESTS, CONCURRENCY):
            await one(keys[i % VISITORS], "/write" if i % 3 == 0 else "/read")

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    await store.aclose()

    warm = [r for n, r in samples if n > REQUESTS // 5]
    growth = max(warm) - min(warm) if warm else 0
    report = {
        "store": kind,
        "requests": done,
        "concurrency": CONCURRENCY,
        "errors": errors,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(done / elapsed),
        "rss_after_warmup_mib": [round(r / 2**20, 1) for r in warm[:: max(1, len(warm) // 8)]],
        "rss_growth_after_warmup_mib": round(growth / 2**20, 2),
    }
    out = Path(os.environ.get("SESSIONARY_SOAK_OUT", tmp_path)) / f"soak-{kind}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    assert done == REQUESTS
    assert errors == 0
    assert growth < GROWTH_BOUND
