"""The demo shop in a real browser: headless Chromium (Debian's) drives the
demo served by uvicorn in a subprocess, as a newcomer would use it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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

# With SESSIONARY_SCREENSHOTS=1 the screenshots land in the docs, which show
# them; otherwise in the test's temporary directory, checked and thrown away.
DOCS_ASSETS = Path(__file__).parent.parent / "docs" / "assets"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}

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
    "--hide-scrollbars",  # screenshots for the docs; layout and scrollWidth are unchanged
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


# -- a phone, a second device, and the screenshots the docs show ----------------------


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("SESSIONARY_SCREENSHOTS") == "1":
        DOCS_ASSETS.mkdir(exist_ok=True)
        return DOCS_ASSETS
    return tmp_path


def screenshot(browser: Chrome, path: Path) -> None:
    assert browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def as_phone(browser: Chrome) -> None:
    """Emulate a 390 px wide phone (an iPhone's CSS width) for the pages that follow."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)


def sign_in_browser(browser: Chrome, shop: str) -> None:
    browser.get(f"{shop}/login")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("wonderland")
    browser.find_element(By.CSS_SELECTOR, "form.form button").click()
    WebDriverWait(browser, 20).until(expected_conditions.url_to_be(f"{shop}/dashboard"))


def add_to_cart(browser: Chrome, shop: str, *titles: str) -> None:
    for title in titles:
        browser.get(f"{shop}/records")
        browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Add {title} to cart']").click()
        WebDriverWait(browser, 20).until(
            expected_conditions.text_to_be_present_in_element(
                (By.CLASS_NAME, "messages"), f"Added “{title}” to your cart."
            )
        )


def sign_out_everywhere_else(shop: str) -> None:
    """Alice signs in on another device (plain HTTP) and signs out every other session."""
    with httpx.Client(base_url=shop, headers={"user-agent": LAPTOP}) as laptop:
        token = re.compile(r'name="csrf_token" value="([^"]+)"')
        found = token.search(laptop.get("/login").text)
        assert found
        signed_in = laptop.post(
            "/login", data={"username": "alice", "password": "wonderland", "csrf_token": found[1]}
        )
        assert signed_in.status_code == 303
        found = token.search(laptop.get("/account/sessions").text)
        assert found
        laptop.post("/account/sessions/revoke-others", data={"csrf_token": found[1]})
        assert re.search(r"Signed out \d+ other sessions?\.", laptop.get("/account/sessions").text)


def test_the_cart_fits_a_phone_without_sideways_scrolling(
    shop: str, browser: Chrome, shots: Path
) -> None:
    as_phone(browser)
    add_to_cart(browser, shop, "Kind of Blue", "Abbey Road", "Blue Train")
    screenshot(browser, shots / "demo-phone-records.png")
    browser.get(f"{shop}/cart")
    width, inner = browser.execute_script(
        "return [document.scrollingElement.scrollWidth, window.innerWidth]"
    )
    assert inner == PHONE["width"]
    assert width <= inner
    for remove in browser.find_elements(By.CSS_SELECTOR, "button[aria-label^='Remove']"):
        assert remove.rect["x"] + remove.rect["width"] <= inner
    screenshot(browser, shots / "demo-phone-cart.png")


def test_several_records_show_above_the_fold_on_a_phone(shop: str, browser: Chrome) -> None:
    as_phone(browser)
    browser.get(f"{shop}/records?genre=jazz")
    covers = browser.find_elements(By.CSS_SELECTOR, ".grid .cover")
    assert len(covers) == 7
    fold = PHONE["height"]
    # Small covers beside the details, not full-width squares.
    assert all(cover.rect["width"] < PHONE["width"] / 2 for cover in covers)
    assert sum(cover.rect["y"] + cover.rect["height"] <= fold for cover in covers) >= 2


def test_a_device_signed_out_elsewhere_is_told_so_on_its_next_click(
    shop: str, browser: Chrome, shots: Path
) -> None:
    wait = WebDriverWait(browser, 20)
    sign_in_browser(browser, shop)
    browser.get(f"{shop}/records?genre=folk")
    sign_out_everywhere_else(shop)

    # A form on a page rendered while signed in.
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Add Blue to cart']").click()
    wait.until(expected_conditions.url_contains("/login"))
    messages = browser.find_element(By.CLASS_NAME, "messages").text
    assert messages == "You were signed out on this device. Sign in again to continue."
    assert "expired" not in browser.page_source

    # A link to a members' page.
    sign_in_browser(browser, shop)
    sign_out_everywhere_else(shop)
    browser.find_element(By.LINK_TEXT, "Your sessions").click()
    wait.until(expected_conditions.url_contains("/login"))
    messages = browser.find_element(By.CLASS_NAME, "messages").text
    assert messages == "You were signed out on this device. Sign in again to continue."


def test_screenshots_of_the_shop_on_a_desktop(shop: str, browser: Chrome, shots: Path) -> None:
    browser.get(shop)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Records worth flipping over."
    screenshot(browser, shots / "demo-desktop-home.png")
    sign_in_browser(browser, shop)
    sign_out_everywhere_else(shop)  # leaves a laptop signed in: a second device to list
    sign_in_browser(browser, shop)
    browser.find_element(By.CSS_SELECTOR, "button[name=theme][value=dark]").click()
    WebDriverWait(browser, 20).until(
        expected_conditions.text_to_be_present_in_element(
            (By.CLASS_NAME, "messages"), "Switched to the dark theme."
        )
    )
    browser.get(f"{shop}/account/sessions")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("data-theme") == "dark"
    devices = browser.find_elements(By.CSS_SELECTOR, ".device h2")
    assert len(devices) == 2
    assert "Firefox on Linux" in [device.text for device in devices]
    screenshot(browser, shots / "demo-desktop-sessions-dark.png")
