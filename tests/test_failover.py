"""Failover, measured: a Redis master killed under a steady stream of requests.

Sentinel (a master, a replica, one Sentinel with quorum 1) and Cluster (three
masters, each with a replica) are started by the test on ports of its own.
Five visitors each increment a counter in their session, one request every
few milliseconds; the master is SIGKILLed mid-stream. Each test asserts that
no request answers 500 (only 200 or 503), that the store serves again within
a bound, and prints the figures (requests failed, time to recover, writes
acknowledged and then lost) that docs/stores/redis.md reports.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware
from sessionary._keys import hash_key
from sessionary.stores.redis import RedisStore

from .faults import outage_app
from .servers import Killable, killable_redis

pytestmark = pytest.mark.soak


def _redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        killable_redis()  # skips, or fails with CI=true, as for every missing server
    return path or "redis-server"


def _cli(port: int, *args: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=5
    )
    return result.stdout


def _until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what} within {seconds} s")


def _redis(*extra: str) -> Killable:
    return Killable(
        _redis_server(), "--port", "{port}", "--bind", "127.0.0.1", "--dir", "{dir}",
        "--save", "", "--appendonly", "no", *extra,
    )  # fmt: skip


@dataclass
class Figures:
    statuses: dict[int, int] = field(default_factory=dict)
    failed_after_kill: int = 0
    recovered_after: float | None = None
    acknowledged: dict[str, int] = field(default_factory=dict)
    lost: int = 0

    def report(self, name: str) -> str:
        return (
            f"{name}: statuses {dict(sorted(self.statuses.items()))}, "
            f"{self.failed_after_kill} failed after the kill, "
            f"recovered after {self.recovered_after or 0:.1f} s, "
            f"{self.lost} acknowledged writes lost"
        )


async def _stream(store: RedisStore, victim: Callable[[str], Killable], *, limit: float) -> Figures:
    """Drive five visitors; kill the master after 1 s; stop 3 s after the last failure.

    ``recovered_after`` is the time from the kill to the end of the last failed
    request: on a cluster only the visitors whose sessions lived on the killed
    master fail, so the first success after the kill says nothing.
    """
    figures = Figures()
    config = SessionConfig(store=store)
    transport = httpx.ASGITransport(SessionMiddleware(outage_app(lambda: None), config))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        cookies: list[str | None] = [None] * 5
        started = time.monotonic()
        killed_at: float | None = None
        last_failure: float | None = None
        turn = 0
        while True:
            now = time.monotonic()
            if killed_at is None and now - started > 1.0 and cookies[0] is not None:
                victim(f"{store.prefix}{hash_key(cookies[0])}").kill()
                killed_at = time.monotonic()
            if killed_at is not None:
                if last_failure is not None and now - last_failure > 3.0:
                    break
                if now - killed_at > limit:
                    break
            visitor = turn % 5
            turn += 1
            cookie = cookies[visitor]
            headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
            response = await client.get("/write", headers=headers)
            figures.statuses[response.status_code] = (
                figures.statuses.get(response.status_code, 0) + 1
            )
            if response.status_code == 200:
                cookies[visitor] = response.cookies.get("sessionid", cookie)
                count = int(response.text.split(":")[1].strip(" }"))
                figures.acknowledged[str(visitor)] = count
            elif killed_at is not None:
                figures.failed_after_kill += 1
                last_failure = time.monotonic()
                figures.recovered_after = last_failure - killed_at
            await asyncio.sleep(0.005)
        # What survived: each visitor's counter as the new master holds it.
        for visitor, cookie in enumerate(cookies):
            if cookie is None:
                continue
            record = await store.load(cookie)
            stored = int(record.data["n"]) if record is not None else 0
            figures.lost += max(0, figures.acknowledged.get(str(visitor), 0) - stored)
    return figures


@dataclass
class Sentinel:
    master: Killable
    replica: Killable
    sentinel: Killable


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    """A master, its replica, and one Sentinel (quorum 1) that fails over after 1 s."""
    master = _redis()
    master.start()
    replica = _redis("--replicaof", "127.0.0.1", str(master.port))
    replica.start()
    watcher = Killable(_redis_server(), "{dir}/sentinel.conf", "--sentinel")
    Path(watcher.workdir, "sentinel.conf").write_text(
        f"port {watcher.port}\nbind 127.0.0.1\n"
        f"sentinel monitor failover 127.0.0.1 {master.port} 1\n"
        "sentinel down-after-milliseconds failover 1000\n"
        "sentinel failover-timeout failover 5000\n"
    )
    watcher.start()
    _until(
        lambda: "master_link_status:up" in _cli(replica.port, "info", "replication"),
        10,
        "the replica did not sync",
    )
    _until(
        lambda: "slaves=1" in _cli(watcher.port, "info", "sentinel"),
        10,
        "the Sentinel did not see the replica",
    )
    yield Sentinel(master, replica, watcher)
    for server in (master, replica, watcher):
        server.kill()


async def test_sentinel_failover_answers_503_never_500_and_recovers(sentinel: Sentinel) -> None:
    prefix = f"sessionary-failover-{uuid.uuid4().hex[:8]}:"
    store = RedisStore(
        f"redis+sentinel://127.0.0.1:{sentinel.sentinel.port}/failover/0?prefix={prefix}",
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
    )
    try:
        figures = await _stream(store, lambda key: sentinel.master, limit=30)
    finally:
        await store.aclose()
        store.close()
    print(figures.report("sentinel"))
    assert 500 not in figures.statuses
    assert figures.recovered_after is not None
    assert figures.recovered_after < 15


class Cluster:
    """Three masters, each with a replica, failing over after a 1 s node timeout."""

    def __init__(self) -> None:
        cluster = ("--cluster-enabled", "yes", "--cluster-node-timeout", "1000")
        self.nodes = [
            _redis(*cluster, "--cluster-config-file", "{dir}/nodes.conf") for _ in range(6)
        ]
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        create = ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1"]
        subprocess.run([*create, "--cluster-yes"], check=True, capture_output=True, timeout=30)
        _until(
            lambda: all("cluster_state:ok" in _cli(n.port, "cluster", "info") for n in self.nodes),
            20,
            "the cluster did not reach cluster_state:ok",
        )
        _until(self._replicas_in_sync, 20, "the replicas did not sync")
        self.url = "redis+cluster://" + ",".join(addresses)

    def _replicas_in_sync(self) -> bool:
        replicas = [n for n in self.nodes if "role:slave" in _cli(n.port, "info", "replication")]
        return len(replicas) == 3 and all(
            "master_link_status:up" in _cli(n.port, "info", "replication") for n in replicas
        )

    def owner(self, key: str) -> Killable:
        """The master serving ``key``'s slot: killing it fails that visitor for sure."""
        slot = int(_cli(self.nodes[0].port, "cluster", "keyslot", key))
        for line in _cli(self.nodes[0].port, "cluster", "nodes").splitlines():
            parts = line.split()
            if "master" not in parts[2]:
                continue
            for span in parts[8:]:
                low, _, high = span.partition("-")
                if int(low) <= slot <= int(high or low):
                    port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
                    return next(n for n in self.nodes if n.port == port)
        raise AssertionError(f"no master serves slot {slot}")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    built = Cluster()
    yield built
    for node in built.nodes:
        node.kill()


async def test_cluster_failover_answers_503_never_500_and_recovers(cluster: Cluster) -> None:
    prefix = f"sessionary-failover-{uuid.uuid4().hex[:8]}:"
    store = RedisStore(
        f"{cluster.url}?prefix={prefix}", socket_timeout=1.0, socket_connect_timeout=1.0
    )
    try:
        figures = await _stream(store, cluster.owner, limit=30)
    finally:
        await store.aclose()
        store.close()
    print(figures.report("cluster"))
    assert 500 not in figures.statuses
    assert figures.recovered_after is not None
    assert figures.recovered_after < 15
