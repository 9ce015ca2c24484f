"""Interleaved benchmark rounds: comparisons are paired by round (pure functions, no timings)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from benchmarks.pairing import (
    paired_differences,
    paired_median_difference,
    paired_price,
    paired_ratio,
    summarize,
)
from benchmarks.registry import CASES
from benchmarks.runner import derive, groups, round_order, select
from benchmarks.worker import run_size, serve


def test_the_price_is_the_median_of_the_paired_differences_not_a_difference_of_medians() -> None:
    # The machine slowed down in round 2: case and floor both read slow there.
    case = {"r:0": 300.0, "r:1": 310.0, "r:2": 600.0}
    floor = {"r:0": 100.0, "r:1": 180.0, "r:2": 390.0}

    price = paired_price(case, floor)

    assert paired_differences(case, floor) == [200.0, 130.0, 210.0]
    assert price["price_us"] == 200.0  # median(200, 130, 210); median - median would say 130
    assert price["floor_us"] == 180.0
    assert price["price_pairs"] == 3
    assert price["price_range_us"] == [130.0, 210.0]
    assert price["rounds_price_us"] == {"r:0": 200.0, "r:1": 130.0, "r:2": 210.0}


def test_rounds_only_one_side_ran_in_are_left_out() -> None:
    # A floor shared by two stores' groups ran in both groups' rounds.
    case = {"redis:0": 250.0, "redis:1": 260.0}
    floor = {"cookie:0": 10.0, "cookie:1": 900.0, "redis:0": 50.0, "redis:1": 70.0}

    price = paired_price(case, floor)

    assert price["price_pairs"] == 2
    assert price["price_us"] == 195.0  # median(200, 190)
    assert price["floor_us"] == 60.0  # the floor over the case's rounds only
    assert paired_price(case, {"cookie:0": 10.0}) == {}
    assert paired_median_difference(case, {"cookie:0": 10.0}) is None
    assert paired_median_difference(case, floor) == 195.0


def test_the_ratio_to_raw_is_the_median_of_the_ratios_of_each_round() -> None:
    raw = {"s:0": 100.0, "s:1": 200.0, "s:2": 100.0, "s:3": 150.0}
    case = {"s:0": 120.0, "s:1": 220.0, "s:2": 130.0}

    assert paired_ratio(case, raw) == pytest.approx(1.2)  # median(1.2, 1.1, 1.3)
    assert paired_ratio(raw, raw) == 1.0
    assert paired_ratio(case, {"t:0": 1.0}) is None


def test_summary_of_a_case_median_over_rounds_and_percentiles_over_all_cycles() -> None:
    rates = {"m:0": 1000.0, "m:1": 500.0, "m:2": 2000.0}
    latencies = [i / 1e6 for i in range(100, 0, -1)]  # 1..100 µs, unsorted

    figures = summarize(rates, latencies, {"m:0": 4e-6, "m:1": 5e-6, "m:2": 6e-6})

    assert figures["cycles_per_s"] == 1000.0
    assert figures["mean_us"] == 1000.0
    assert figures["runs_cycles_per_s"] == [1000.0, 500.0, 2000.0]
    assert figures["rounds_us"] == {"m:0": 1000.0, "m:1": 2000.0, "m:2": 500.0}
    assert figures["rounds_p50_us"] == pytest.approx({"m:0": 4.0, "m:1": 5.0, "m:2": 6.0})
    assert figures["spread_pct"] == 150.0
    assert figures["p50_us"] == pytest.approx(51.0)
    assert figures["p99_us"] == pytest.approx(100.0)


def _result(
    name: str, store: str, kind: str, mode: str, rounds: dict[str, float]
) -> dict[str, Any]:
    return {
        "name": name,
        "store": store,
        "kind": kind,
        "mode": mode,
        "floor": CASES[name].floor if name in CASES else None,
        "status": "ok",
        "rounds_us": rounds,
        "rounds_p50_us": {key: value / 2 for key, value in rounds.items()},
    }


def test_derive_pairs_each_case_with_its_raw_floor_and_its_framework_floor() -> None:
    results = [
        _result("floor/flask", "-", "floor", "sync", {"redis:0": 100.0, "redis:1": 300.0}),
        _result("raw/redis/sync", "redis", "raw", "sync", {"redis:0": 50.0, "redis:1": 150.0}),
        _result("raw/redis/async", "redis", "raw", "async", {"redis:0": 100.0, "redis:1": 300.0}),
        _result("ours/redis/async", "redis", "ours", "async", {"redis:0": 110.0, "redis:1": 330.0}),
        _result("flask-session/redis", "redis", "peer", "sync", {"redis:0": 60.0, "redis:1": 180}),
        _result(
            "e2e/ours-wsgi/redis", "redis", "e2e", "sync", {"redis:0": 160.0, "redis:1": 380.0}
        ),
    ]

    derive(results)
    by_name = {r["name"]: r for r in results}

    assert by_name["raw/redis/sync"]["x_raw"] == 1.0
    assert by_name["raw/redis/async"]["x_raw"] == 2.0  # an async floor against the sync one
    assert by_name["ours/redis/async"]["x_raw"] == pytest.approx(1.1)  # against raw async
    assert by_name["ours/redis/async"]["x_raw_sync"] == pytest.approx(2.2)
    # The peer read 20% slower than raw in each round, though slower rounds came and went.
    assert by_name["flask-session/redis"]["x_raw"] == pytest.approx(1.2)
    e2e = by_name["e2e/ours-wsgi/redis"]
    assert e2e["price_us"] == 70.0  # median(60, 80)
    assert e2e["price_p50_us"] == 35.0
    assert e2e["floor_us"] == 200.0
    assert "price_us" not in by_name["floor/flask"]


def test_derive_leaves_out_what_a_failed_floor_cannot_give() -> None:
    results = [
        {**_result("floor/flask", "-", "floor", "sync", {}), "status": "failed"},
        _result("ours/redis/sync", "redis", "ours", "sync", {"redis:0": 100.0}),
        _result("e2e/ours-wsgi/redis", "redis", "e2e", "sync", {"redis:0": 160.0}),
    ]

    derive(results)

    assert not {"x_raw", "price_us", "floor_us"} & (results[1].keys() | results[2].keys())


def test_each_store_is_a_group_with_the_floors_its_cases_need() -> None:
    specs = select(["redis", "cookie"], ["raw", "e2e"])

    grouped = dict(groups(specs))

    assert list(grouped) == ["redis", "cookie"]
    for store, members in grouped.items():
        cases = [s for s in members if s.kind != "floor"]
        floors = {s.name for s in members if s.kind == "floor"}
        assert {s.store for s in cases} == {store}
        assert floors == {s.floor for s in cases if s.floor}
    assert "floor/starlette" in {s.name for s in grouped["redis"]}
    assert "floor/starlette" in {s.name for s in grouped["cookie"]}
    every = [s.name for members in grouped.values() for s in members if s.kind != "floor"]
    assert sorted(every) == sorted(s.name for s in specs if s.kind != "floor")


def test_each_round_runs_every_case_once_in_an_order_set_by_the_round() -> None:
    names = [f"case/{n:02d}" for n in range(12)]

    orders = [round_order(f"redis:{k}", names) for k in range(5)]

    assert all(sorted(order) == names for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    assert round_order("redis:3", names) == orders[3]


def test_a_served_case_runs_one_timed_run_per_command_and_reports_its_rounds() -> None:
    replies = io.StringIO()

    serve("raw/memory/sync", 5, 0.001, io.StringIO("run a:0\nrun b:0\nfinish\n"), replies)

    ready, first, second, final = (json.loads(line) for line in replies.getvalue().splitlines())
    assert ready["status"] == "ready"
    assert 5 <= ready["cycles_per_run"] <= 250
    assert first["status"] == second["status"] == "ran"
    assert first["cycles_per_s"] > 0
    assert final["status"] == "ok"
    assert final["verified"] is True
    assert list(final["rounds_us"]) == ["a:0", "b:0"]
    assert final["cycles_per_s"] > 0


def test_a_served_case_reports_an_unknown_command_as_a_failure() -> None:
    replies = io.StringIO()

    serve("raw/memory/sync", 5, 0.001, io.StringIO("jump\n"), replies)

    ready, failed = (json.loads(line) for line in replies.getvalue().splitlines())
    assert ready["status"] == "ready"
    assert failed["status"] == "failed"
    assert "jump" in failed["reason"]


def test_a_timed_run_lasts_about_the_target_whatever_the_store_costs() -> None:
    # 1,000 sessions at 1 ms a cycle: half a second is 500 cycles, half a pass.
    assert run_size(1000, 1.0, 0.5) == 500
    # A fast store: several passes, at most 50.
    assert run_size(1000, 0.1, 0.5) == 5000
    assert run_size(1000, 0.001, 0.5) == 50_000
    # A slow store: never fewer than 100 cycles, nor more sessions than there are.
    assert run_size(1000, 20.0, 0.5) == 100
    assert run_size(5, 1.0, 0.5) == 5
