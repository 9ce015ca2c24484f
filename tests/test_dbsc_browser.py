"""DBSC in a real browser, against the demo: runs only when asked.

It runs when ``SESSIONARY_DBSC_BROWSER`` names a DBSC-capable browser
binary (Chrome on a machine whose key store it uses for DBSC), with its
driver found as ``SESSIONARY_DBSC_DRIVER`` or ``chromedriver`` on the PATH,
and extra flags in ``SESSIONARY_DBSC_BROWSER_FLAGS``. Without that variable
it skips, even with ``CI=true``: no browser this project can install
exercises DBSC (Debian's Chromium never registers a session), so the spec's
behaviour is tested through the test user agent (``tests/dbsc_agent.py``)
and this test is for a developer who has such a browser. See docs/dbsc.md.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BROWSER = os.environ.get("SESSIONARY_DBSC_BROWSER")
if not BROWSER:
    pytest.skip(
        "SESSIONARY_DBSC_BROWSER does not name a DBSC-capable browser", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from .test_demo_browser import free_port, shop  # noqa: E402

__all__ = ["shop"]  # the demo served by `sessionary demo`, a fixture


@pytest.fixture
def dbsc_browser(tmp_path: Path) -> Iterator[Chrome]:
    driver_path = os.environ.get("SESSIONARY_DBSC_DRIVER") or shutil.which("chromedriver")
    if driver_path is None:
        pytest.fail("SESSIONARY_DBSC_BROWSER is set but no chromedriver was found")
    options = Options()
    options.binary_location = str(BROWSER)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument("--enable-features=DeviceBoundSessions")
    for flag in os.environ.get("SESSIONARY_DBSC_BROWSER_FLAGS", "").split():
        options.add_argument(flag)
    service = Service(executable_path=driver_path, port=free_port())
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def _bound(browser: Chrome, shop: str) -> bool:
    browser.get(f"{shop}/session")
    return browser.find_element(By.CSS_SELECTOR, "[data-testid=device-bound]").text != "no"


def test_a_real_browser_binds_refreshes_and_shows_device_bound(
    shop: str, dbsc_browser: Chrome
) -> None:
    browser = dbsc_browser
    browser.get(f"{shop}/login")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("wonderland")
    browser.find_element(By.CSS_SELECTOR, "form.form button").click()
    deadline = time.monotonic() + 30  # registration runs in the background
    while not _bound(browser, shop):
        assert time.monotonic() < deadline, "the browser never registered a device binding"
        time.sleep(0.5)
    browser.get(f"{shop}/account/sessions")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=device-bound]")
    # Without its bound cookie the browser must refresh (signing with its key) first.
    browser.delete_cookie("sessionary_bound")
    assert _bound(browser, shop)
