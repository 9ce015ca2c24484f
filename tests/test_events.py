"""The event hook API and its OpenTelemetry bridge."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sessionary import Session, SessionConfig, SessionMiddleware, auth
from sessionary.events import SessionEvent
from sessionary.stores.memory import MemoryStore
from sessionary.telemetry import OpenTelemetryHook

from .apps import asgi_app
from .conftest import FakeClock


def recorder() -> tuple[list[SessionEvent], Callable[[SessionEvent], None]]:
    events: list[SessionEvent] = []
    return events, events.append


async def test_events_follow_the_session_lifecycle(clock: FakeClock) -> None:
    events, hook = recorder()
    config = SessionConfig(store=MemoryStore(clock=clock), event_hooks=[hook])
    transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        key = (await c.get("/set?a=1")).cookies["sessionid"]
        cookie = {"cookie": f"sessionid={key}"}
        await c.get("/set?b=2", headers=cookie)
        new = (await c.get("/cycle", headers=cookie)).cookies["sessionid"]
        await c.get("/flush", headers={"cookie": f"sessionid={new}"})
        await c.get("/noop", headers={"cookie": f"sessionid={key}"})  # dead key
        await c.get("/noop", headers={"cookie": "sessionid=not-a-key"})
    kinds = [e.kind for e in events]
    assert kinds == [
        "created",
        "loaded",
        "saved",
        "loaded",
        # The rotation: its claim (no event: a claim is not a session), a
        # fresh read of the old record, the new record, the old one marked as
        # rotated (see sessionary._rotation).
        "loaded",
        "created",
        "cycled",
        "loaded",
        "flushed",
        # The old key, within the grace window, leads to the flushed successor.
        "loaded",
        "expired",
        "bad_cookie",
    ]
    assert all(key not in repr(e) and new not in repr(e) for e in events)
    assert events[0].store == "MemoryStore"
    assert events[0].key_hash is not None


async def test_revoked_event_counts_sessions(clock: FakeClock) -> None:
    events, hook = recorder()
    config = SessionConfig(store=MemoryStore(clock=clock), event_hooks=[hook])
    devices = []
    for _ in range(3):
        s = Session(config)
        auth.login(s, "erin")
        await s.save()
        devices.append(s)
    await auth.revoke_other_sessions(devices[0])
    assert events[-1].kind == "revoked"
    assert events[-1].count == 2


async def test_opentelemetry_hook_makes_spans_and_metrics(clock: FakeClock) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    hook = OpenTelemetryHook(tracer_provider=tracer_provider, meter_provider=meter_provider)
    config = SessionConfig(store=MemoryStore(clock=clock), event_hooks=[hook])
    s = Session(config)
    s["a"] = 1
    await s.save()
    again = Session(config, s.session_key)
    await again.load()
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == ["sessionary.created", "sessionary.loaded"]
    data = reader.get_metrics_data()
    assert data is not None
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    points = cast(Sum, metrics["sessionary.events"].data).data_points
    assert sum(p.value for p in points) == 2
    assert "sessionary.store.duration" in metrics
