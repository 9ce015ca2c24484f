"""OpenTelemetry for sessionary: an event hook that makes spans and metrics.

    from sessionary.telemetry import OpenTelemetryHook
    config = SessionConfig(event_hooks=[OpenTelemetryHook()])

Each event becomes a span ``sessionary.<kind>`` covering the store time, a
count on the ``sessionary.events`` counter and, for store round trips, a
sample of the ``sessionary.store.duration`` histogram (seconds). Needs the
``otel`` extra (``pip install 'sessionary[otel]'``); the SDK and exporters
are the application's choice.
"""

from __future__ import annotations

import time
from typing import Any

from .events import SessionEvent
from .exceptions import MissingDependency

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("sessionary.telemetry (opentelemetry-api)", "otel") from exc

__all__ = ["OpenTelemetryHook"]


class OpenTelemetryHook:
    """Turns :class:`~sessionary.events.SessionEvent` into spans and metrics."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self._tracer = trace.get_tracer("sessionary", tracer_provider=tracer_provider)
        meter = metrics.get_meter("sessionary", meter_provider=meter_provider)
        self._events = meter.create_counter(
            "sessionary.events", unit="{event}", description="Session events by kind"
        )
        self._duration = meter.create_histogram(
            "sessionary.store.duration", unit="s", description="Time spent in the session store"
        )

    def __call__(self, event: SessionEvent) -> None:
        attributes = {"sessionary.event": event.kind, "sessionary.store": event.store}
        end = time.time_ns()
        span = self._tracer.start_span(
            f"sessionary.{event.kind}",
            start_time=end - int(event.duration * 1e9),
            attributes={**attributes, "sessionary.count": event.count},
        )
        if event.error is not None:
            span.record_exception(event.error)
            span.set_status(Status(StatusCode.ERROR, type(event.error).__name__))
        span.end(end_time=end)
        self._events.add(event.count, attributes)
        if event.duration:
            self._duration.record(event.duration, attributes)
