"""Fixtures shared by the suite: a fake clock, stores, and HTTP clients over
both middlewares, so each behaviour is written once and checked on ASGI and WSGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware, WSGISessionMiddleware
from sessionary.stores.base import Store

from .apps import asgi_app, wsgi_app
from .store_registry import STORES

SECRET = "s" * 40


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(STORES))
def store_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(store_name: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    """A fresh, empty store of each registered kind, reading time from ``clock``."""
    async with STORES[store_name](tmp_path) as built:
        built.clock = clock
        yield built


class Client:
    """One visitor: keeps its cookie jar and returns httpx responses."""

    def __init__(self, send: Callable[..., Any]) -> None:
        self._send = send
        self.cookies: dict[str, str] = {}

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        response: httpx.Response = await self._send(path, headers or {}, dict(self.cookies))
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response


def _cookie_header(cookies: dict[str, str], headers: dict[str, str]) -> dict[str, str]:
    if cookies and "cookie" not in {k.lower() for k in headers}:
        headers = {**headers, "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    return headers


@pytest.fixture(params=["asgi", "wsgi"])
def make_client(request: pytest.FixtureRequest, store: Store) -> Callable[..., Client]:
    """``make_client(**config)`` returns a visitor of an app under that config."""
    kind = request.param

    def make(**options: Any) -> Client:
        options.setdefault("secret_key", SECRET)
        config = SessionConfig(store=store, **options)
        if kind == "asgi":
            transport: Any = httpx.ASGITransport(SessionMiddleware(asgi_app, config))

            async def send(path: str, headers: dict[str, str], cookies: dict[str, str]) -> Any:
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    return await c.get(path, headers=_cookie_header(cookies, headers))
        else:
            wsgi = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))

            async def send(path: str, headers: dict[str, str], cookies: dict[str, str]) -> Any:
                with httpx.Client(transport=wsgi, base_url="http://t") as c:
                    # WSGI is sync: the visitor drives it in-line, on purpose.
                    return c.get(path, headers=_cookie_header(cookies, headers))  # noqa: ASYNC212

        return Client(send)

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Report how many hostile inputs the fuzz suite generated."""
    from . import test_fuzz

    if test_fuzz.COUNTS:
        total = sum(test_fuzz.COUNTS.values())
        parts = ", ".join(f"{n} {name}" for name, n in sorted(test_fuzz.COUNTS.items()))
        terminalreporter.write_line(f"fuzz: {total} generated inputs ({parts})")
