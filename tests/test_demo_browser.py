"""The demo shop in a real browser: headless Chromium (Debian's) drives the
demo served by uvicorn in a subprocess, as a newcomer would use it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .store_registry import IN_CI

pytest.importorskip("uvicorn", reason="the demo extra is not installed")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

# Servers this suite starts listen only on these loopback ports.
PORTS = range(7300, 7350)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]


_next_port = iter(PORTS)


def free_port() -> int:
    # Each call hands out a different port (a probe that closes cannot reserve one).
    for port in _next_port:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port left in {PORTS.start}-{PORTS.stop - 1}")


def browser_paths() -> tuple[str, str]:
    """Debian's chromium and chromedriver; skip (or, in CI, fail) without them."""
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if chromium is None or not Path(driver).is_file():
        message = "chromium and chromium-driver are not installed (scripts/browser installs them)"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing browser fails the run)")
        pytest.skip(message)
    return chromium, driver


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the demo did not listen on port {port}:\n{log.read_text()}")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[str]:
    """The real ``sessionary demo`` command, serving on a port of this suite's range."""
    port = free_port()
    log = tmp_path / "demo.log"
    command = [sys.executable, "-m", "sessionary.cli", "demo", "--port", str(port)]
    command += ["--store", f"sqlite:///{tmp_path / 'demo.db'}"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_for_port(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    chromium, driver_path = browser_paths()
    options = Options()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument(f"--remote-debugging-port={free_port()}")
    # Both paths given: selenium uses them and never downloads a browser or driver.
    service = Service(executable_path=driver_path, port=free_port())
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def test_sign_in_add_to_cart_and_see_count_and_message(
    shop: str, browser: Chrome, tmp_path: Path
) -> None:
    wait = WebDriverWait(browser, 20)
    browser.get(f"{shop}/dashboard")
    wait.until(expected_conditions.url_contains("/login"))
    assert "Please sign in" in browser.find_element(By.CLASS_NAME, "messages").text

    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("wonderland")
    browser.find_element(By.CSS_SELECTOR, "form.form button").click()
    wait.until(expected_conditions.url_to_be(f"{shop}/dashboard"))
    assert "Welcome back, Alice Liddell" in browser.find_element(By.CLASS_NAME, "messages").text
    assert browser.find_element(By.TAG_NAME, "h1").text == "Hello, Alice Liddell"
    cookie = browser.get_cookie("sessionid")
    assert cookie is not None
    assert cookie["httpOnly"]

    browser.get(f"{shop}/records?genre=jazz")
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Add Kind of Blue to cart']").click()
    wait.until(
        expected_conditions.text_to_be_present_in_element(
            (By.CLASS_NAME, "messages"), "Added “Kind of Blue” to your cart."
        )
    )
    assert browser.current_url == f"{shop}/records?genre=jazz"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=cart-count]").text == "1"

    browser.get(f"{shop}/cart")
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=cart-count]").text == "1"
    assert "Kind of Blue" in browser.find_element(By.CSS_SELECTOR, "table.cart").text
    # The flash showed once, on the page after the action, and is gone now.
    assert browser.find_element(By.CLASS_NAME, "messages").text == ""
    shot = tmp_path / "cart.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
