"""Servers the test run starts for itself, on loopback ports of its own.

Each is started once per test process, on first use, and stopped at exit:
a three-master Redis Cluster, and a Redis with a Sentinel watching it.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .store_registry import IN_CI


def _free_port() -> int:
    """A loopback port nothing listens on, whose cluster-bus twin (+10000) is free too.

    Ports are picked per test process, so concurrent runs on one machine never
    share (and never stop) each other's servers.
    """
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port < 50000 and not _listening(port + 10000):
            return port


_processes: list[subprocess.Popen[bytes]] = []
_dirs: list[str] = []


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing server fails the run)")
        pytest.skip(message)
    return path


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _spawn(*args: str) -> None:
    _processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def _wait(port: int) -> None:
    for _ in range(100):
        if _listening(port):
            return
        time.sleep(0.05)
    pytest.fail(f"a test server did not start on port {port}")


def _tmpdir() -> str:
    path = tempfile.mkdtemp(prefix="sessionary-servers-")
    _dirs.append(path)
    return path


@atexit.register
def _stop_all() -> None:
    for process in _processes:
        process.terminate()
    for process in _processes:
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
    for path in _dirs:
        shutil.rmtree(path, ignore_errors=True)


# The ports each server got in this process, filled when it starts.
PORTS: dict[str, list[int]] = {}


def redis_cluster() -> str:
    """Start (once) a three-master cluster; return its store URL."""
    if "cluster" not in PORTS:
        server = _need("redis-server")
        cli = _need("redis-cli")
        ports = [_free_port() for _ in range(3)]
        for port in ports:
            workdir = _tmpdir()
            _spawn(
                server,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(Path(workdir) / "nodes.conf"),
                "--dir", workdir,
                "--save", "",
                "--appendonly", "no",
            )  # fmt: skip
        for port in ports:
            _wait(port)
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        _await_redis_state(
            cli, ports[0], ("cluster", "info"), "cluster_state:ok",
            "the Redis Cluster did not reach cluster_state:ok",
        )  # fmt: skip
        PORTS["cluster"] = ports
    return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in PORTS["cluster"])


def _await_redis_state(
    cli: str, port: int, command: tuple[str, ...], state: str, failure: str
) -> None:
    """Poll ``redis-cli -p port command`` (for up to 10 s) until its output shows ``state``."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        info = subprocess.run(
            [cli, "-p", str(port), *command], capture_output=True, text=True, timeout=5, check=False
        )
        if state in info.stdout:
            return
        time.sleep(0.05)
    pytest.fail(failure)


def redis_sentinel() -> str:
    """Start (once) a Redis and a Sentinel watching it as ``sessionary``; return the URL."""
    if "sentinel" not in PORTS:
        server = _need("redis-server")
        master, sentinel = _free_port(), _free_port()
        _spawn(server, "--port", str(master), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", _tmpdir())  # fmt: skip
        conf = Path(_tmpdir()) / "sentinel.conf"
        conf.write_text(
            f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor sessionary 127.0.0.1 {master} 1\n"
        )
        _spawn(server, str(conf), "--sentinel")
        _wait(master)
        _wait(sentinel)
        PORTS["sentinel"] = [master, sentinel]
    return f"redis+sentinel://127.0.0.1:{PORTS['sentinel'][1]}/sessionary/0"


def redis_with_replica() -> tuple[int, int]:
    """Start (once) a Redis master and a replica in sync with it; return both ports."""
    if "replica" not in PORTS:
        server = _need("redis-server")
        master, replica = _free_port(), _free_port()
        common = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        _spawn(server, "--port", str(master), *common, "--dir", _tmpdir())
        _wait(master)
        _spawn(server, "--port", str(replica), *common, "--dir", _tmpdir(),
               "--replicaof", "127.0.0.1", str(master))  # fmt: skip
        _wait(replica)
        _await_redis_state(
            _need("redis-cli"), replica, ("info", "replication"), "master_link_status:up",
            "the Redis replica did not reach its master",
        )  # fmt: skip
        PORTS["replica"] = [master, replica]
    master, replica = PORTS["replica"]
    return master, replica


def memcached_pair() -> str:
    """Start (once) two memcached servers; return the store URL naming both."""
    if "memcached" not in PORTS:
        binary = _need("memcached")
        ports = [_free_port(), _free_port()]
        for port in ports:
            _spawn(binary, "-u", "root", "-l", "127.0.0.1", "-p", str(port), "-m", "64")
        for port in ports:
            _wait(port)
        PORTS["memcached"] = ports
    return "memcached://" + ",".join(f"127.0.0.1:{p}" for p in PORTS["memcached"])


class Killable:
    """A server of our own that a test may kill and start again on the same port."""

    def __init__(self, *command: str) -> None:
        self.command = list(command)
        self.port = _free_port()
        self.workdir = _tmpdir()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [a.format(port=self.port, dir=self.workdir) for a in self.command]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _processes.append(self.process)
        _wait(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            for _ in range(100):
                if not _listening(self.port):
                    return
                time.sleep(0.05)


def killable_redis() -> Killable:
    """A Redis that writes every change to its append-only file (survives a kill)."""
    server = Killable(
        _need("redis-server"), "--port", "{port}", "--bind", "127.0.0.1", "--dir", "{dir}",
        "--save", "", "--appendonly", "yes", "--appendfsync", "always",
    )  # fmt: skip
    server.start()
    return server


def killable_memcached() -> Killable:
    server = Killable(_need("memcached"), "-u", "root", "-l", "127.0.0.1", "-p", "{port}")
    server.start()
    return server
