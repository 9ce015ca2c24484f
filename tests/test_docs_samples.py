"""Every ```python block in the README and the documentation site runs.

The blocks of one Markdown file run in order in one namespace, the way a
reader pastes them into one module, inside a fresh working directory (so a
sample's ``sqlite:///sessionary.db`` lands there). ``__name__`` is not
``"__main__"``, so a sample's ``if __name__ == "__main__": uvicorn.run(app)``
shows how to serve the app without serving it here. There is no way out: a
test below refuses ``py`` fences, the usual trick for a sample that would
not run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


FILES = [p for p in markdown_files() if blocks(p)]


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_samples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSIONARY_SECRET_KEY", "docs-sample-secret-key-0123456789abcdef")
    namespace: dict[str, object] = {"__name__": "docs_sample"}
    for line, source in blocks(path):
        code = compile(source, f"{path.name}:{line}", "exec")
        exec(code, namespace)  # noqa: S102 - our own documentation


def test_the_readme_has_samples() -> None:
    assert len(blocks(ROOT / "README.md")) >= 3


def test_no_sample_is_fenced_to_escape_the_run() -> None:
    for path in markdown_files():
        assert "```py\n" not in path.read_text(encoding="utf-8"), path


def test_the_guarantees_name_tests_that_exist() -> None:
    # "`tests/test_x.py::test_a`, `::test_b`": each named file and test must exist.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    named = 0
    for cell in re.findall(r"^\|[^|]+\|(.+)\|$", section, re.MULTILINE):
        current: Path | None = None
        for ref in re.findall(r"`((?:tests/[\w/]+\.py)?(?:::\w+)?)`", cell):
            path, _, test = ref.partition("::")
            if path:
                current = ROOT / path
                assert current.is_file(), ref
            if test:
                assert current is not None, ref
                assert re.search(rf"def {test}\(", current.read_text()), ref
                named += 1
    assert named >= 15
