"""Time: epoch seconds inside, aware UTC datetimes at the public edge."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

__all__ = ["Clock", "from_timestamp", "system_clock", "to_timestamp"]

Clock = Callable[[], float]
system_clock: Clock = time.time


def from_timestamp(ts: float) -> dt.datetime:
    """An aware UTC datetime for epoch seconds ``ts``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def to_timestamp(when: dt.datetime) -> float:
    """Epoch seconds for ``when``; a naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
