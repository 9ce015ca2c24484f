"""scripts/framework-suites judges the frameworks' own tests: its verdicts must be right.

The runner itself (downloads, the suites) runs in CI; these tests pin the
rules that decide pass or fail from the outcomes, and the reading of the
expectations file kept in the repository.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "framework_suites", ROOT / "scripts" / "framework_suites.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["framework_suites"] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


fs = _runner()
PINS = {"starlette": ("1.10.0", ""), "flask": ("3.1.3", ""), "django": ("5.2.19", "")}


def result(suite: str, store: str, outcomes: dict[str, str]) -> object:
    full = {name: (outcome, "why") for name, outcome in outcomes.items()}
    # Fill up to the suite's expected size with passes.
    for i in range(fs.TOTALS[suite] - len(full)):
        full[f"test_filler_{i}"] = ("passed", "")
    return fs.Result(fs.Run(suite, store, None), full, 0.0)


def gap(suite: str, store: str, pattern: str) -> object:
    return fs.Expectation("gap", suite, store, pattern, "a known gap")


def verdict(results: list[object], expectations: list[object]) -> int:
    return int(fs.report(results, expectations, PINS, verbose=False))


def test_an_unlisted_failure_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert verdict([result("flask", "memory", {"test_session_path": "failed"})], []) == 1
    assert "UNEXPECTED failed: test_session_path" in capsys.readouterr().out


def test_a_listed_failure_passes_the_run() -> None:
    outcomes = {"test_session_path": "failed"}
    expectations = [gap("flask", "*", "test_session_path")]
    assert verdict([result("flask", "memory", outcomes)], expectations) == 0


def test_a_listing_for_another_store_does_not_cover_a_failure() -> None:
    outcomes = {"test_session_path": "failed"}
    expectations = [gap("flask", "sqlite-default", "test_session_path")]
    assert verdict([result("flask", "memory", outcomes)], expectations) == 1


def test_a_skipped_test_counts_as_a_failure() -> None:
    assert verdict([result("flask", "memory", {"test_session_path": "skipped"})], []) == 1


def test_a_listed_test_that_passes_is_reported_not_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes = {"test_session_path": "passed"}
    expectations = [gap("flask", "*", "test_session_path")]
    assert verdict([result("flask", "memory", outcomes)], expectations) == 0
    assert "now passes (gap, remove its line): test_session_path" in capsys.readouterr().out


def test_a_suite_that_ran_fewer_tests_than_expected_fails() -> None:
    short = fs.Result(fs.Run("flask", "memory", None), {"test_a": ("passed", "")}, 0.0)
    assert verdict([short], []) == 1


def test_a_suite_that_could_not_run_fails() -> None:
    crashed = fs.Result(fs.Run("django", "redis", None), {}, 0.0, crashed="no server")
    assert verdict([crashed], []) == 1


def test_patterns_take_star_and_read_brackets_literally() -> None:
    assert fs.wildcard("test_session[asyncio-*", "test_session[asyncio-False]")
    assert fs.wildcard("Sessionary*Tests.test_cycle", "SessionaryWithTimeZoneTests.test_cycle")
    assert not fs.wildcard("test_session[asyncio]", "test_session[a]")
    assert not fs.wildcard("test_cycle", "test_cycle_async")


def test_the_expectations_file_lists_only_documented_deviations() -> None:
    expectations = fs.read_expectations()
    assert {(e.kind, e.suite) for e in expectations} <= {
        ("allowed", "django"),
        ("allowed", "flask"),
    }
    documented = (ROOT / "docs" / "integrations" / "framework-suites.md").read_text()
    for expectation in expectations:
        name = expectation.pattern.split(".")[-1]
        assert name in documented, f"{name} is allowed but not documented"
