"""The instruction-count record: its shape, and the 10% rule the benchmark job applies."""

from __future__ import annotations

import json

from benchmarks.callgrind import MODES, RECORD, compare


def test_record_holds_a_count_per_mode_with_a_note() -> None:
    history = json.loads(RECORD.read_text())
    assert history
    for entry in history:
        assert entry["note"]
        assert all(isinstance(entry[mode], int) and entry[mode] > 0 for mode in MODES)


def test_growth_within_ten_percent_passes() -> None:
    assert compare({"asgi": 1000, "wsgi": 1000}, {"asgi": 1100, "wsgi": 900}) == []


def test_growth_beyond_ten_percent_names_the_mode() -> None:
    grown = compare({"asgi": 1000, "wsgi": 1000}, {"asgi": 1101, "wsgi": 1000})
    assert grown == ["asgi: 1,000 -> 1,101 instructions (+10%)"]
