"""The sign-in throttle: a few failures per account and per client address, then a pause.

The counts live in this process's memory, like the demo's accounts: run
the demo as one process (``sessionary demo`` does). A shop with several
workers keeps them where every worker sees them (Redis, its database).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Refuse sign-ins for a key (``user:alice``, ``ip:…``) after ``limit`` failures in ``window``.

    A key is blocked until its oldest counted failure is ``window`` seconds
    old, whatever is tried meanwhile: a right password after the limit waits
    too, or guessing would go on at full speed behind the refusals.
    ``clock`` returns seconds (monotonic); tests pass their own.
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 300.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds (rounded up) until all of ``keys`` may try again; ``None``: none blocked."""
        now = self.clock()
        waits = [
            times[0] + self.window - now
            for times in (self._recent(key, now) for key in keys)
            if len(times) >= self.limit
        ]
        return math.ceil(max(waits)) if waits else None

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed sign-in against each of ``keys``."""
        now = self.clock()
        for key in keys:
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
        if len(self._failures) > self.max_keys:
            self._prune(now)

    def succeeded(self, key: str) -> None:
        """Forget ``key``'s failures (the account's, after its owner signed in)."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        # Only the last `limit` failures matter: memory per key stays bounded.
        times = self._failures.get(key) or deque(maxlen=self.limit)
        while times and times[0] + self.window <= now:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        # Bounded memory under a spray of names or addresses: drop what has
        # expired, then the oldest keys (dicts keep insertion order).
        # (retry_after may have emptied a key's failures in place.)
        for key in [
            k for k, times in self._failures.items() if not times or times[-1] + self.window <= now
        ]:
            del self._failures[key]
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
