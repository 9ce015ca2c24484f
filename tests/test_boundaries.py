"""Module boundaries: only the session module touches ``Session``'s private names,
and store calls are typed operations, never method names in strings."""

from __future__ import annotations

import re
from pathlib import Path

import sessionary

PACKAGE = Path(sessionary.__file__).parent
SESSION_MODULES = {"session.py", "_session.py"}

# A private name reached through something called ``session`` or ``_inner``
# (Django's wrapper), or the old step runners by name.
PRIVATE_ACCESS = re.compile(
    r"session\._[a-z]|_inner\._[a-z]|\b_(run_async|run_sync|load_one)\b|_commit_steps"
)
STRING_DISPATCH = re.compile(r"getattr\(\s*(self\.)?_?store\b")


def _library_lines() -> list[tuple[str, int, str]]:
    lines = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in SESSION_MODULES and path.parent == PACKAGE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            lines.append((str(path.relative_to(PACKAGE)), number, line))
    return lines


def test_no_module_but_the_session_module_touches_session_private_names() -> None:
    offenders = [f"{p}:{n}: {line.strip()}" for p, n, line in _library_lines()]
    offenders = [o for o in offenders if PRIVATE_ACCESS.search(o.split(": ", 1)[1])]
    assert offenders == []


def test_store_operations_are_not_dispatched_by_name() -> None:
    offenders = [
        f"{p}:{n}: {line.strip()}"
        for p, n, line in _library_lines()
        if STRING_DISPATCH.search(line)
    ]
    assert offenders == []


def test_the_check_catches_a_private_access() -> None:
    # The pattern must be able to fail: these are the shapes it replaced.
    for line in (
        "session._saved = False",
        "self._inner._persist = False",
        "record = await _run_async(store, _load_one(key))",
        "yield from session._commit_steps()",
    ):
        assert PRIVATE_ACCESS.search(line), line
    assert STRING_DISPATCH.search('result = getattr(store, name + "_sync")(*args)')


def test_the_package_imports_nothing_from_the_repository() -> None:
    # The wheel ships src/sessionary only: benchmarks/, tests/ and scripts/ stay behind.
    repository = re.compile(r"^\s*(from|import)\s+(benchmarks|tests|scripts)\b|sys\.path\.insert")
    offenders = [f"{p}:{n}" for p, n, line in _library_lines() if repository.search(line)]
    assert offenders == []
