"""Failover, measured: a Redis master killed, a PostgreSQL server restarted,
under a steady stream of requests.

Sentinel (a master, a replica, one Sentinel with quorum 1), Cluster (three
masters, each with a replica) and a PostgreSQL cluster of its own are started
by the test on ports of its own.
Five visitors each increment a counter in their session, one request every
few milliseconds; the master is SIGKILLed mid-stream. Each test asserts that
no request answers 500 (only 200 or 503), that the store serves again within
a bound, and prints the figures (requests failed, time to recover, writes
acknowledged and then lost) that docs/stores/redis.md reports.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware
from sessionary._keys import hash_key
from sessionary.stores.base import Store
from sessionary.stores.database import DatabaseStore
from sessionary.stores.redis import RedisStore

from .faults import outage_app
from .servers import Killable, killable_redis
from .store_registry import IN_CI

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


async def _stream(store: Store, fault: Callable[[str], None], *, limit: float) -> Figures:
    """Drive five visitors; cause ``fault`` after 1 s; stop 3 s after the last failure.

    ``fault`` gets the first visitor's session id. ``recovered_after`` is the
    time from the fault to the end of the last failed request: on a cluster
    only the visitors whose sessions lived on the killed master fail, so the
    first success after the fault says nothing.
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
                fault(hash_key(cookies[0]))
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
        figures = await _stream(store, lambda key_hash: sentinel.master.kill(), limit=30)
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
        figures = await _stream(
            store, lambda key_hash: cluster.owner(prefix + key_hash).kill(), limit=30
        )
    finally:
        await store.aclose()
        store.close()
    print(figures.report("cluster"))
    assert 500 not in figures.statuses
    assert figures.recovered_after is not None
    assert figures.recovered_after < 15


class Postgres:
    """A PostgreSQL cluster of the test's own (initdb as the postgres user), restartable."""

    def __init__(self) -> None:
        for binary in ("initdb", "pg_ctl"):
            if shutil.which(binary) is None:
                message = f"{binary} is not installed"
                if IN_CI:
                    pytest.fail(f"{message} (CI=true: a missing server fails the run)")
                pytest.skip(message)
        self.root = Path(tempfile.mkdtemp(prefix="sessionary-pg-"))
        shutil.chown(self.root, "postgres")
        with socket.socket() as probe:  # a loopback port nothing listens on
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._pg(f"initdb -D {self.root}/data -A trust -U postgres")
        self.start()

    def _pg(self, command: str) -> None:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", command + " >/dev/null"],
            check=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._pg(f"pg_ctl -D {self.root}/data -o '{options}' -l {self.root}/log -w start")

    def crash(self) -> None:
        """Stop at once, as a killed server would (no checkpoint: WAL replay on start)."""
        self._pg(f"pg_ctl -D {self.root}/data -m immediate stop")

    def restart_after(self, down: float) -> None:
        def run() -> None:
            self.crash()
            time.sleep(down)
            self.start()

        threading.Thread(target=run, daemon=True).start()

    def close(self) -> None:
        subprocess.run(
            ["su", "postgres", "-s", "/bin/sh", "-c", f"pg_ctl -D {self.root}/data -m fast stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    yield server
    server.close()


async def test_postgresql_restart_answers_503_never_500_and_loses_nothing(
    postgres: Postgres,
) -> None:
    store = DatabaseStore(
        f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres", connect_timeout=1
    )
    await asyncio.to_thread(store.migrate_sync)
    try:
        figures = await _stream(store, lambda key_hash: postgres.restart_after(1.0), limit=30)
    finally:
        await store.aclose()
        store.close()
    print(figures.report("postgresql"))
    assert 500 not in figures.statuses
    assert figures.recovered_after is not None
    assert figures.recovered_after < 15
    assert figures.lost == 0  # a commit is durable: nothing acknowledged is lost
