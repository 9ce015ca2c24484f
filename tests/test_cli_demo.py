"""``sessionary demo`` starts on every kind of store, and fails in one line when it cannot."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from .store_registry import require_server
from .test_cli import closed_port, fails_with_one_line, postgres_database

ROOT = Path(__file__).resolve().parent.parent

SECRET = "demo-secret-0123456789abcdef0123456789"


def test_the_demo_on_the_cookie_store_without_a_secret_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SESSIONARY_SECRET_KEY", raising=False)
    fails_with_one_line(
        ["demo", "--store", "cookie://"], capsys, "needs a secret_key", "SESSIONARY_SECRET_KEY"
    )


def test_the_demo_on_an_unreachable_store_fails_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    fails_with_one_line(["demo", "--store", url], capsys, "redis unavailable")


def serve_and_get(command: list[str], cwd: Path, env: dict[str, str]) -> httpx.Response:
    """Start the demo as a user would (``command`` + ``--port``), fetch its home page, stop it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = cwd / f"demo-{port}.log"
    with log.open("wb") as output:
        # A session of its own: scripts/demo runs uv, which runs the demo; stop them all.
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(log.read_text()) from None
                    time.sleep(0.2)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


@pytest.mark.parametrize("how", ["--secret", "SESSIONARY_SECRET_KEY"])
def test_the_demo_serves_on_the_cookie_store_with_a_secret(how: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SESSIONARY_SECRET_KEY"}
    args = ["--store", "cookie://"]
    if how == "--secret":
        args += ["--secret", SECRET]
    else:
        env["SESSIONARY_SECRET_KEY"] = SECRET
    response = serve_and_get([sys.executable, "-m", "sessionary", "demo", *args], tmp_path, env)
    assert response.status_code == 200
    assert "</html>" in response.text


def fresh_clone(into: Path) -> Path:
    """The repository's files, as a clone has them (no environment yet)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    return into


def installed(clone: Path) -> set[str]:
    python = clone / ".venv" / "bin" / "python"
    script = "import importlib.metadata as m; print(*(d.name for d in m.distributions()))"
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    return {name.lower() for name in done.stdout.split()}


def test_scripts_demo_runs_from_a_fresh_clone_on_redis_postgresql_and_cookie(
    tmp_path: Path,
) -> None:
    require_server("127.0.0.1", 6379, "Redis")
    clone = fresh_clone(tmp_path / "clone")
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"
    # The user's environment (proxies, certificates), outside this test run's venv.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "SESSIONARY_STORE_URL")}
    env["PATH"] = f"{Path(uv).parent}:{env.get('PATH', '')}"
    env["SESSIONARY_SECRET_KEY"] = SECRET
    demo = [str(clone / "scripts" / "demo")]
    prefix = f"cli-demo-{uuid.uuid4().hex}:"
    try:
        redis_url = f"redis://127.0.0.1:6379/0?prefix={prefix}"
        assert serve_and_get([*demo, "--store", redis_url], clone, env).status_code == 200
    finally:
        with redis.Redis(host="127.0.0.1", port=6379) as client:
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
    assert "redis" in installed(clone)
    with postgres_database() as url:
        assert serve_and_get([*demo, "--store", url], clone, env).status_code == 200
    # The second run added PostgreSQL's driver and kept Redis's.
    assert {"redis", "psycopg"} <= installed(clone)
    assert serve_and_get([*demo, "--store", "cookie://"], clone, env).status_code == 200
