"""``python -m benchmarks.instructions``: which cases it counts for a store."""

from __future__ import annotations

from benchmarks.instructions import cases_for


def test_a_store_counts_ours_first_then_each_peer_beside_its_floor() -> None:
    names = [spec.name for spec in cases_for("redis")]
    assert names[:2] == ["e2e/ours-asgi/redis", "e2e/ours-wsgi/redis"]
    assert {"e2e/flask-session/redis", "e2e/starsessions/redis"} <= set(names)
    assert all(spec.floor is not None for spec in cases_for("redis"))


def test_a_store_no_peer_covers_counts_ours_alone() -> None:
    assert [spec.name for spec in cases_for("memory")] == [
        "e2e/ours-asgi/memory",
        "e2e/ours-wsgi/memory",
    ]
