"""Run Starlette's, Flask's and Django's own session tests against sessionary.

The tests come from the sdist of the version ``uv.lock`` pins (downloaded with
pip once, checked against the lock's sha256, cached in
``.cache/framework-suites/``); nothing of theirs is copied into this
repository. Each suite gets the change a user would make, and nothing more:

- Starlette ``tests/middleware/test_session.py``: ``SessionMiddleware``
  imported from sessionary, on the zero-configuration default store, in a
  fresh directory (no ``migrate``), nothing else changed;
- Flask ``tests/test_basic.py -k session``: ``init_app`` applied to the test
  app (``tests/framework_suites/sessionary_suite_flask.py``), on the
  zero-configuration default and on a memory store;
- Django ``tests/sessions_tests``: ``SESSION_ENGINE`` set to sessionary's
  (``tests/framework_suites/sessionary_suite_django*.py``), on memory,
  SQLite, PostgreSQL and Redis.

Every failure must be listed in ``tests/framework_suites/expected-failures.txt``,
either as an allowed deviation (documented, with its reason) or as a known
gap still to fix. An unexpected failure fails the run; a listed test that now
passes is reported so its line can go.

Run through its wrapper, on the locked environment:
    scripts/framework-suites [--suite NAME]... [--store NAME]... [-v] [--print-gaps]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIMS = ROOT / "tests" / "framework_suites"
EXPECTATIONS = SHIMS / "expected-failures.txt"
CACHE = ROOT / ".cache" / "framework-suites"


@dataclass(frozen=True)
class Run:
    suite: str
    store: str  # name shown in the report
    url: str | None  # None: the zero-configuration default
    needs: tuple[str, int] | None = None  # a server that must answer


@dataclass
class Result:
    run: Run
    outcomes: dict[str, tuple[str, str]]  # test -> (passed|failed|skipped, reason)
    seconds: float
    crashed: str | None = None


@dataclass
class Expectation:
    kind: str  # "allowed" or "gap"
    suite: str
    store: str
    pattern: str
    reason: str
    used: bool = field(default=False, compare=False)

    def matches(self, run: Run, test: str) -> bool:
        return (
            self.suite == run.suite
            and wildcard(self.store, run.store)
            and wildcard(self.pattern, test)
        )


def wildcard(pattern: str, name: str) -> bool:
    """``*`` matches anything; every other character (test ids hold [ ]) is literal."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), name) is not None


# How many tests each suite must collect: a selection that silently shrinks
# (an upstream rename, a -k that matches less) must not read as a pass.
TOTALS = {"starlette": 14, "flask": 13, "django": 140}

SDIST_MEMBERS = {
    "starlette": [
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/types.py",
        "tests/middleware/test_session.py",
        "pyproject.toml",  # their pytest settings (warnings are errors)
    ],
    "flask": ["tests/conftest.py", "tests/test_basic.py", "pyproject.toml"],
    "django": ["tests/sessions_tests/"],
}

# (file, text in it, replacement): the user's edit, applied to the extracted copy.
EDITS = {
    "starlette": [
        (
            "tests/middleware/test_session.py",
            "from starlette.middleware.sessions import Session, SessionMiddleware\n",
            "from starlette.middleware.sessions import Session\n"
            "from sessionary import SessionMiddleware\n",
        ),
    ],
}

# test_session_tracks_modification unit-tests Starlette's own Session class
# (constructed from a dict, no middleware): it is not a middleware test.
STARLETTE_NOT_MIDDLEWARE = "tests/middleware/test_session.py::test_session_tracks_modification"


def runs() -> list[Run]:
    tag = uuid.uuid4().hex[:12]
    return [
        Run("starlette", "sqlite-default", None),
        Run("flask", "sqlite-default", None),
        Run("flask", "memory", "memory://"),
        Run("django", "memory", "memory://"),
        Run("django", "sqlite", "sqlite:///{work}/django-sessions.db"),
        Run(
            "django",
            "postgresql",
            f"postgresql://postgres@127.0.0.1:5432/test#sessionary_suite_{tag}",
            ("127.0.0.1", 5432),
        ),
        Run(
            "django",
            "redis",
            f"redis://127.0.0.1:6379/0?prefix=sessionary-suite-{tag}:",
            ("127.0.0.1", 6379),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=sorted(TOTALS))
    parser.add_argument("--store", action="append", help="only runs on this store (by name)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every failure")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--print-gaps",
        action="store_true",
        help="print expectation lines for the unexpected failures (to record known gaps)",
    )
    args = parser.parse_args()

    selected = [
        r
        for r in runs()
        if (not args.suite or r.suite in args.suite) and (not args.store or r.store in args.store)
    ]
    if not selected:
        print("framework-suites: nothing selected", file=sys.stderr)
        return 2
    expectations = read_expectations()
    pins = read_pins()
    work = Path(tempfile.mkdtemp(prefix="sessionary-framework-suites-"))
    try:
        trees = {}
        for suite in sorted({r.suite for r in selected}):
            name, version = suite, pins[suite][0]
            sdist = fetch_sdist(name, version, pins[suite][1])
            trees[suite] = extract(sdist, f"{name}-{version}", SDIST_MEMBERS[suite], work)
            apply_edits(trees[suite], EDITS.get(suite, []))
        results = []
        for run in selected:
            print(
                f"framework-suites: {run.suite} {pins[run.suite][0]} on {run.store} ...", flush=True
            )
            results.append(execute(run, trees[run.suite], work))
        status = report(results, expectations, pins, verbose=args.verbose)
        if args.print_gaps:
            print_gaps(results, expectations)
        return status
    finally:
        if args.keep:
            print(f"framework-suites: work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


# -- the sdists ------------------------------------------------------------------


def read_pins() -> dict[str, tuple[str, str]]:
    """Package -> (version, sdist sha256) as uv.lock pins them."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    pins = {}
    for package in lock["package"]:
        if package["name"] in TOTALS:
            digest = package["sdist"]["hash"].removeprefix("sha256:")
            pins[package["name"]] = (package["version"], digest)
    missing = set(TOTALS) - set(pins)
    if missing:
        sys.exit(f"framework-suites: uv.lock pins no {', '.join(sorted(missing))}")
    return pins


def fetch_sdist(name: str, version: str, sha256: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{name}-{version}.tar.gz"
    if not target.exists() or digest(target) != sha256:
        print(f"framework-suites: downloading the {name} {version} sdist", flush=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            subprocess.run(
                [
                    *pip(),
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    f"{name}=={version}",
                    "--dest",
                    tmp,
                ],
                check=True,
            )
            (downloaded,) = Path(tmp).glob("*.tar.gz")
            if digest(downloaded) != sha256:
                sys.exit(f"framework-suites: {downloaded.name} does not match uv.lock's sha256")
            downloaded.replace(target)
    return target


def pip() -> list[str]:
    """A pip to download with: the base interpreter's (the project venv has none)."""
    for python in (sys.executable, getattr(sys, "_base_executable", None)):
        if python:
            found = subprocess.run([python, "-m", "pip", "--version"], capture_output=True)
            if found.returncode == 0:
                return [python, "-m", "pip"]
    return ["uvx", "pip"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extract(sdist: Path, top: str, members: list[str], work: Path) -> Path:
    """Extract only the named test files (a trailing / names a directory)."""
    with tarfile.open(sdist) as archive:
        wanted = [
            m
            for m in archive.getmembers()
            if any(
                m.name == f"{top}/{p}" or (p.endswith("/") and m.name.startswith(f"{top}/{p}"))
                for p in members
            )
        ]
        found = {m.name for m in wanted}
        for p in members:
            if not any(n == f"{top}/{p}" or n.startswith(f"{top}/{p}") for n in found):
                sys.exit(f"framework-suites: {sdist.name} has no {p}")
        archive.extractall(work, members=wanted, filter="data")
    return work / top


def apply_edits(tree: Path, edits: list[tuple[str, str, str]]) -> None:
    for relative, old, new in edits:
        path = tree / relative
        text = path.read_text(encoding="utf-8")
        if old not in text:
            sys.exit(f"framework-suites: {relative} no longer contains {old.strip()!r}")
        path.write_text(text.replace(old, new), encoding="utf-8")


# -- running ---------------------------------------------------------------------


def execute(run: Run, tree: Path, work: Path) -> Result:
    started = time.monotonic()
    if run.needs and not answers(*run.needs):
        reason = f"no server at {run.needs[0]}:{run.needs[1]}"
        return Result(run, {}, 0.0, crashed=reason)
    run_dir = work / f"{run.suite}-{run.store}"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONARY_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    report_file = run_dir / "report"
    if run.suite == "django":
        url, _, table = (run.url or "").format(work=run_dir).partition("#")
        env.update(
            SESSIONARY_SUITE_STORE=url,
            SESSIONARY_SUITE_REPORT=str(report_file),
            PYTHONPATH=os.pathsep.join([str(SHIMS), str(tree / "tests")]),
        )
        if table:
            env["SESSIONARY_SUITE_TABLE"] = table
        command = [
            sys.executable,
            "-m",
            "django",
            "test",
            "sessionary_suite_django",
            "--settings=sessionary_suite_django_settings",
            "--noinput",
            "--verbosity=0",
        ]
        cwd = run_dir  # the zero-config default store, if any, lands here
    else:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # Our dev environment's pytest-asyncio: neither suite uses it
            # (Starlette's runs on anyio's plugin), and it warns on their config.
            "-p",
            "no:asyncio",
            f"--rootdir={tree}",
            f"--junitxml={report_file}",
        ]
        if run.suite == "starlette":
            command += ["tests/middleware/test_session.py", "--deselect", STARLETTE_NOT_MIDDLEWARE]
            # sessionary's async stores run on asyncio (aiosqlite, redis.asyncio,
            # psycopg); Starlette's trio runs of the same tests are not claimed.
            command += ["-k", "not trio"]
            env["PYTHONPATH"] = str(tree)
        else:
            command += ["tests/test_basic.py", "-k", "session", "-p", "sessionary_suite_flask"]
            env["PYTHONPATH"] = os.pathsep.join([str(SHIMS), str(tree)])
        if run.url:
            env["SESSIONARY_STORE_URL"] = run.url
        cwd = tree
    log = run_dir / "log"
    with log.open("wb") as out:
        subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if not report_file.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        return Result(
            run, {}, seconds, crashed="no report; the run ended with:\n" + "\n".join(tail)
        )
    if run.suite == "django":
        raw = json.loads(report_file.read_text(encoding="utf-8"))
        outcomes = {short_django(k): (v[0], v[1]) for k, v in raw.items()}
    else:
        outcomes = read_junit(report_file)
    return Result(run, outcomes, seconds)


def answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def short_django(test_id: str) -> str:
    # "sessionary_suite_django.SessionaryTests.test_x" -> "SessionaryTests.test_x"
    return ".".join(test_id.split(".")[-2:])


def read_junit(path: Path) -> dict[str, tuple[str, str]]:
    outcomes = {}
    for case in ET.parse(path).iter("testcase"):
        name = case.get("name", "?")
        outcome, reason = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
                reason = (child.get("message") or child.tag).strip().splitlines()[0][:300]
                break
            if child.tag == "skipped":
                outcome, reason = "skipped", (child.get("message") or "")[:300]
        outcomes[name] = (outcome, reason)
    return outcomes


# -- expectations and the report -------------------------------------------------


def read_expectations() -> list[Expectation]:
    expectations = []
    for number, line in enumerate(EXPECTATIONS.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 4)
        if len(parts) < 5 or parts[0] not in ("allowed", "gap"):
            sys.exit(f"{EXPECTATIONS.name}:{number}: want 'allowed|gap SUITE STORE TEST REASON'")
        kind, suite, store, pattern, reason = parts
        expectations.append(Expectation(kind, suite, store, pattern, reason))
    return expectations


def report(
    results: list[Result],
    expectations: list[Expectation],
    pins: dict[str, tuple[str, str]],
    *,
    verbose: bool,
) -> int:
    failed = False
    print()
    print(f"{'suite':<18} {'store':<15} {'passed':>9} {'allowed':>8} {'gaps':>5}  time")
    for result in results:
        run = result.run
        label = f"{run.suite} {pins[run.suite][0]}"
        if result.crashed:
            print(f"{label:<18} {run.store:<15} {'-':>9} {'-':>8} {'-':>5}  FAILED TO RUN")
            print("  " + result.crashed.replace("\n", "\n  "))
            failed = True
            continue
        passed = allowed = gaps = 0
        unexpected, newly_passing = [], []
        for test, (outcome, reason) in sorted(result.outcomes.items()):
            match = next((e for e in expectations if e.matches(run, test)), None)
            if match:
                match.used = True
            if outcome == "passed":
                passed += 1
                if match:
                    newly_passing.append((test, match))
            elif match and match.kind == "allowed":
                allowed += 1
            elif match:
                gaps += 1
                if verbose:
                    print(f"  gap      {run.suite} {run.store} {test}: {reason}")
            else:
                unexpected.append((test, outcome, reason))
        total = len(result.outcomes)
        print(
            f"{label:<18} {run.store:<15} {passed:>4}/{total:<4} {allowed:>8} {gaps:>5}"
            f"  {result.seconds:.0f}s"
        )
        if total != TOTALS[run.suite]:
            print(f"  FAILED: {total} tests ran, {TOTALS[run.suite]} expected")
            failed = True
        for test, outcome, reason in unexpected:
            print(f"  UNEXPECTED {outcome}: {test}: {reason}")
            failed = True
        for test, match in newly_passing:
            print(f"  now passes ({match.kind}, remove its line): {test}")
    ran = {(r.run.suite, r.run.store) for r in results if not r.crashed}
    for e in expectations:
        if not e.used and any(s == e.suite and wildcard(e.store, st) for s, st in ran):
            print(f"  unused expectation: {e.kind} {e.suite} {e.store} {e.pattern}")
    print()
    print("framework-suites: " + ("FAILED" if failed else "ok (every failure is listed)"))
    return 1 if failed else 0


def print_gaps(results: list[Result], expectations: list[Expectation]) -> None:
    """Expectation lines for the unlisted failures, one per test (store * when all fail)."""
    failing: dict[tuple[str, str], dict[str, str]] = {}
    stores: dict[str, set[str]] = {}
    for result in results:
        run = result.run
        stores.setdefault(run.suite, set()).add(run.store)
        for test, (outcome, reason) in result.outcomes.items():
            if outcome != "passed" and not any(e.matches(run, test) for e in expectations):
                failing.setdefault((run.suite, test), {})[run.store] = reason
    for (suite, test), by_store in sorted(failing.items()):
        reason = next(iter(by_store.values())).replace("\n", " ")
        names = ["*"] if set(by_store) == stores[suite] else sorted(by_store)
        for store in names:
            print(f"gap {suite} {store} {test} {reason}")


if __name__ == "__main__":
    sys.exit(main())
