"""Figures of interleaved rounds: per-case summaries and comparisons paired by round.

Every timed run belongs to a round, named by a key such as ``"redis:2"``
(the third round of the Redis group). Two cases measured in the same round
ran within seconds of each other, so they saw the same machine: a comparison
is made round by round (the case's and the other's figure of that round) and
the median over rounds is reported. Rounds only one side took part in are
left out. These functions are pure; the runner and the tests call them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "common_rounds",
    "paired_differences",
    "paired_median_difference",
    "paired_price",
    "paired_ratio",
    "percentile",
    "summarize",
]


def common_rounds(a: Mapping[str, float], b: Mapping[str, float]) -> list[str]:
    """The rounds both sides ran in, in ``a``'s order."""
    return [key for key in a if key in b]


def paired_differences(case: Mapping[str, float], base: Mapping[str, float]) -> list[float]:
    """``case[k] - base[k]`` for every round ``k`` both ran in."""
    return [case[k] - base[k] for k in common_rounds(case, base)]


def paired_median_difference(case: Mapping[str, float], base: Mapping[str, float]) -> float | None:
    """The median of :func:`paired_differences`; ``None`` if the two share no round."""
    differences = paired_differences(case, base)
    return statistics.median(differences) if differences else None


def paired_ratio(case: Mapping[str, float], base: Mapping[str, float]) -> float | None:
    """The median over shared rounds of ``case[k] / base[k]``; ``None`` if they share none."""
    ratios = [case[k] / base[k] for k in common_rounds(case, base) if base[k]]
    return statistics.median(ratios) if ratios else None


def paired_price(case_us: Mapping[str, float], floor_us: Mapping[str, float]) -> dict[str, Any]:
    """The end-to-end price: the case's µs per request minus its floor's, round by round.

    Returns ``price_us`` (the median of the paired differences), ``floor_us``
    (the floor's median over the same rounds), the number of pairs and the
    range of the differences; an empty dict if the two never shared a round.
    """
    keys = common_rounds(case_us, floor_us)
    if not keys:
        return {}
    differences = [case_us[k] - floor_us[k] for k in keys]
    return {
        "price_us": statistics.median(differences),
        "floor_us": statistics.median(floor_us[k] for k in keys),
        "price_pairs": len(differences),
        "price_range_us": [min(differences), max(differences)],
        "rounds_price_us": dict(zip(keys, differences, strict=True)),
    }


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The value at ``fraction`` of an ascending sequence (nearest rank, no interpolation)."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summarize(
    rates: Mapping[str, float], latencies: list[float], p50s: Mapping[str, float]
) -> dict[str, Any]:
    """One case's figures from its rounds and every timed cycle.

    ``rates`` are the cycles per second of each round, ``latencies`` the
    seconds of every timed cycle (sorted here), ``p50s`` each round's median
    cycle in seconds. ``cycles_per_s`` is the median over rounds and
    ``mean_us`` its inverse; p50 and p99 are over all timed cycles of all
    rounds; the spread is (max - min) / median of the rounds' rates.
    ``rounds_us`` (µs per cycle: wall time over cycles) and ``rounds_p50_us``
    give each round's figure, for the comparisons paired by round.
    """
    values = list(rates.values())
    median = statistics.median(values)
    latencies.sort()
    return {
        "runs_cycles_per_s": values,
        "rounds_us": {key: 1e6 / rate for key, rate in rates.items()},
        "rounds_p50_us": {key: p50 * 1e6 for key, p50 in p50s.items()},
        "cycles_per_s": median,
        "spread_pct": (max(values) - min(values)) / median * 100,
        "mean_us": 1e6 / median,
        "p50_us": percentile(latencies, 0.5) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
    }
