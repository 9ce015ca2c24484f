"""``sessionary demo`` starts on every kind of store, and fails in one line when it cannot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .test_cli import closed_port, fails_with_one_line

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


def serve_and_get(args: list[str], cwd: Path, env: dict[str, str]) -> httpx.Response:
    """Start ``sessionary demo`` as a user would, fetch its home page, stop it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "sessionary", "demo", "--port", str(port), *args]
    server = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read() if server.stderr else "") from None
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()


@pytest.mark.parametrize("how", ["--secret", "SESSIONARY_SECRET_KEY"])
def test_the_demo_serves_on_the_cookie_store_with_a_secret(how: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SESSIONARY_SECRET_KEY"}
    args = ["--store", "cookie://"]
    if how == "--secret":
        args += ["--secret", SECRET]
    else:
        env["SESSIONARY_SECRET_KEY"] = SECRET
    response = serve_and_get(args, tmp_path, env)
    assert response.status_code == 200
    assert "</html>" in response.text
