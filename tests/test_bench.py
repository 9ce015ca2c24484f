"""``python -m benchmarks`` runs its harness and writes the figures it promises (no timings)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from benchmarks.runner import main


def test_bench_writes_verified_results_for_two_stores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    argv = ["--quick", "--count", "5", "--runs", "1", "--out", str(out)]
    argv += ["--store", "memory", "--store", "sqlite", "--only", "raw", "--only", "ours"]
    argv += ["--only", "scale"]

    assert main(argv) == 0

    report = json.loads((out / "results.json").read_text())
    cases = {case["name"]: case for case in report["cases"]}
    assert {"raw/sqlite/sync", "ours/sqlite/sync", "ours/sqlite/async x32"} <= set(cases)
    assert {case["store"] for case in cases.values()} == {"memory", "sqlite"}
    for case in cases.values():
        assert case["status"] == "ok", case
        assert case["verified"] is True
        assert len(case["runs_cycles_per_s"]) == 1
        assert case["cycles_per_s"] > 0
        assert case["p99_us"] >= case["p50_us"] > 0
        assert case["x_raw"] > 0
    assert cases["raw/sqlite/sync"]["x_raw"] == 1.0
    assert cases["ours/sqlite/async x32"]["concurrency"] == 32
    assert [(s["store"], s["status"]) for s in report["scale"]] == [("sqlite", "ok")] * 2
    assert all(s["removed"] == s["records"] and s["peak_kib"] > 0 for s in report["scale"])
    assert report["versions"]["sessionary"]
    assert report["machine"]["cores"]

    markdown = (out / "results.md").read_text()
    assert "### SQLite" in markdown
    assert "**sessionary** (sync)" in markdown
    assert re.search(r"\[\s*1/\d+\] ", capsys.readouterr().err)  # progress was shown


def test_bench_pairs_each_end_to_end_case_with_its_floor_round_by_round(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = ["--quick", "--count", "5", "--runs", "2", "--out", str(out)]
    argv += ["--store", "memory", "--only", "e2e"]

    assert main(argv) == 0

    report = json.loads((out / "results.json").read_text())
    cases = {case["name"]: case for case in report["cases"]}
    assert set(cases) == {
        "floor/starlette",
        "floor/flask",
        "e2e/ours-asgi/memory",
        "e2e/ours-wsgi/memory",
    }
    assert report["method"] == "interleaved rounds"
    # Two rounds, each running every case of the memory group once.
    assert [r["round"] for r in report["rounds"]] == ["memory:0", "memory:1"]
    assert all(sorted(r["order"]) == sorted(cases) for r in report["rounds"])
    for name in ("e2e/ours-asgi/memory", "e2e/ours-wsgi/memory"):
        case = cases[name]
        assert case["status"] == "ok"
        assert case["runs"] == 2
        floor = cases[case["floor"]]
        assert list(case["rounds_price_us"]) == ["memory:0", "memory:1"]
        for key, price in case["rounds_price_us"].items():
            assert price == case["rounds_us"][key] - floor["rounds_us"][key]
        assert case["price_pairs"] == 2
        low, high = case["price_range_us"]
        assert low <= case["price_us"] <= high
        assert "price_p50_us" in case
    assert "| sessionary WSGI on Flask | memory |" in (out / "results.md").read_text()


def test_the_cli_bench_command_runs_the_harness_from_the_clone(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from sessionary.cli import main as cli_main

    assert cli_main(["bench", "--help"]) == 0
    assert "python -m benchmarks" in capfd.readouterr().out
