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

CLUSTER_PORTS = (7501, 7502, 7503)
SENTINEL_MASTER_PORT = 7511
SENTINEL_PORT = 7512

_started: dict[str, bool] = {}
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


def redis_cluster() -> str:
    """Start (once) a three-master cluster; return its store URL."""
    if not _started.get("cluster"):
        server = _need("redis-server")
        cli = _need("redis-cli")
        if not all(_listening(p) for p in CLUSTER_PORTS):
            for port in CLUSTER_PORTS:
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
            for port in CLUSTER_PORTS:
                _wait(port)
            subprocess.run(
                [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in CLUSTER_PORTS),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=30,
            )  # fmt: skip
        for _ in range(100):
            info = subprocess.run(
                [cli, "-p", str(CLUSTER_PORTS[0]), "cluster", "info"],
                capture_output=True, text=True, timeout=5,
            )  # fmt: skip
            if "cluster_state:ok" in info.stdout:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the Redis Cluster did not reach cluster_state:ok")
        _started["cluster"] = True
    return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in CLUSTER_PORTS)


def redis_sentinel() -> str:
    """Start (once) a Redis and a Sentinel watching it as ``sessionary``; return the URL."""
    if not _started.get("sentinel"):
        server = _need("redis-server")
        if not _listening(SENTINEL_MASTER_PORT):
            _spawn(server, "--port", str(SENTINEL_MASTER_PORT), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", _tmpdir())  # fmt: skip
        if not _listening(SENTINEL_PORT):
            conf = Path(_tmpdir()) / "sentinel.conf"
            conf.write_text(
                f"port {SENTINEL_PORT}\nbind 127.0.0.1\n"
                f"sentinel monitor sessionary 127.0.0.1 {SENTINEL_MASTER_PORT} 1\n"
            )
            _spawn(server, str(conf), "--sentinel")
        _wait(SENTINEL_MASTER_PORT)
        _wait(SENTINEL_PORT)
        _started["sentinel"] = True
    return f"redis+sentinel://127.0.0.1:{SENTINEL_PORT}/sessionary/0"
