"""The sessions list names each device ("Firefox on Windows"), from its user agent."""

from __future__ import annotations

import pytest

from sessionary import Session, SessionConfig, auth
from sessionary._device import device_name
from sessionary.stores.base import Store

from .conftest import SECRET, FakeClock

AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:130.0) Gecko/20100101 Firefox/130.0",
        "Firefox on Windows",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/128.0.0.0 Safari/537.36 Edg/128.0.2739.42",
        "Edge on Windows",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/128.0.0.0 Safari/537.36",
        "Chrome on macOS",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.6 Safari/605.1.15",
        "Safari on macOS",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/128.0.6613.98 Mobile/15E148 Safari/604.1",
        "Chrome on iPhone",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        "Samsung Internet on Android",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/128.0.0.0 Safari/537.36 OPR/113.0.0.0",
        "Opera on Linux",
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) Chrome/128.0.0.0 Safari/537.36",
        "Chrome on ChromeOS",
    ),
    ("curl/8.9.1", "curl"),
    ("python-httpx/0.27.2", "python-httpx"),
    ("", "Unknown device"),
    (None, "Unknown device"),
]


@pytest.mark.parametrize(("user_agent", "name"), AGENTS)
def test_a_user_agent_reads_as_browser_on_system(user_agent: str | None, name: str) -> None:
    assert device_name(user_agent) == name


async def test_the_sessions_list_names_each_device(store: Store, clock: FakeClock) -> None:
    config = SessionConfig(store=store, secret_key=SECRET)
    for agent, _ in AGENTS[:2]:
        assert agent is not None
        s = Session(config, client={"ua": agent, "ip": "192.0.2.1"})
        auth.login(s, "ada")
        await s.save()
        clock.advance(1)
    listed = await store.sessions_for("ada")
    assert [info.device for info in listed] == ["Firefox on Windows", "Edge on Windows"]
