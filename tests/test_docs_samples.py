"""Every ```python block in the README and the documentation site runs, in a
fresh virtual environment that holds exactly the packages its page names.

A page names what its samples need in its install lines, ``$ pip install
'sessionary[starlette]' httpx2`` in a ``console`` block; a page without one
needs sessionary alone. For each distinct set of packages one environment is
built per test run (``uv venv``, then ``uv pip install`` of the wheel built
from this checkout with the named extras, at the versions ``uv.lock`` pins,
from uv's cache when it holds them), so a sample that imports a package its
page does not name fails here, as it would for a reader.

The blocks of one page run in order in one namespace, the way a reader pastes
them into one module, inside a fresh working directory (so a sample's
``sqlite:///sessionary.db`` lands there), with warnings as errors.
``__name__`` is not ``"__main__"``, so a sample's ``if __name__ ==
"__main__": uvicorn.run(app)`` shows how to serve the app without serving it
here. There is no way out: a test below refuses ``py`` fences, the usual trick
for a sample that would not run.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from packaging.requirements import Requirement

from .store_registry import IN_CI

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.DOTALL | re.MULTILINE)
INSTALL = re.compile(r"^\$ pip install (.+)$", re.MULTILINE)

# Runs in the sample environment: only the standard library, no test code.
RUNNER = """
import json, sys
namespace = {"__name__": "docs_sample"}
for where, source in json.load(sys.stdin):
    exec(compile(source, where, "exec"), namespace)
"""


class Requirements(NamedTuple):
    """What a page's install lines name: sessionary's extras and other packages."""

    extras: frozenset[str]
    packages: frozenset[str]


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[tuple[int, str]]:
    return blocks_in(path.read_text(encoding="utf-8"))


def blocks_in(text: str) -> list[tuple[int, str]]:
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def requirements(path: Path) -> Requirements:
    return requirements_in(path.read_text(encoding="utf-8"))


def requirements_in(text: str) -> Requirements:
    extras: set[str] = set()
    packages: set[str] = set()
    for console in CONSOLE.finditer(text):
        for line in INSTALL.finditer(console.group(1)):
            for word in shlex.split(line.group(1), comments=True):
                name, _, rest = word.partition("[")
                if name == "sessionary":
                    extras.update(e for e in rest.rstrip("]").split(",") if e)
                else:
                    packages.add(word)
    return Requirements(frozenset(extras), frozenset(packages))


FILES = [p for p in markdown_files() if blocks(p)]


def _uv(*args: str | Path) -> None:
    """Run uv from its cache alone first; reach the index only for what it lacks."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        message = "uv is needed to build the samples' environments"
        if IN_CI:
            pytest.fail(f"{message} (CI=true)")
        pytest.skip(message)
    command = [uv, "--quiet", *map(str, args)]
    if subprocess.run([*command, "--offline"], capture_output=True).returncode == 0:
        return
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Requirements], Path]:
    """``environment(requirements)``: the Python of a fresh environment holding exactly those."""
    base = tmp_path_factory.mktemp("docs-envs")
    built: dict[Requirements, Path] = {}
    pins = base / "uv-lock-pins.txt"
    dist = base / "dist"

    def make(needs: Requirements) -> Path:
        if needs in built:
            return built[needs]
        if not pins.exists():
            _uv("build", "--wheel", "--out-dir", dist, ROOT)
            _uv(
                "export",
                "--frozen",
                "--project",
                ROOT,
                "--all-extras",
                "--no-hashes",
                "--no-emit-project",
                "--output-file",
                pins,
            )
        (wheel,) = dist.glob("sessionary-*.whl")
        venv = base / f"env{len(built)}"
        _uv("venv", "--python", sys.executable, venv)
        python = venv / "bin" / "python"
        extras = f"[{','.join(sorted(needs.extras))}]" if needs.extras else ""
        _uv(
            "pip",
            "install",
            "--python",
            python,
            "--constraint",
            pins,
            f"sessionary{extras} @ {wheel.as_uri()}",
            *sorted(needs.packages),
        )
        built[needs] = python
        return python

    return make


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_samples_run_with_only_the_packages_their_page_names(
    path: Path, tmp_path: Path, environment: Callable[[Requirements], Path]
) -> None:
    python = environment(requirements(path))
    sources = [(f"{path.name}:{line}", source) for line, source in blocks(path)]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SESSIONARY_SECRET_KEY": "docs-sample-secret-key-0123456789abcdef",
    }
    done = subprocess.run(
        [python, "-I", "-W", "error", "-c", RUNNER],
        input=json.dumps(sources),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{path.relative_to(ROOT)}:\n{done.stderr}"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distributions(needs: Requirements) -> set[str]:
    """The distributions a set of requirements installs directly."""
    names = {_normal(Requirement(p).name) for p in needs.packages}
    for line in importlib.metadata.requires("sessionary") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is not None and any(marker.evaluate({"extra": e}) for e in needs.extras):
            names.add(_normal(requirement.name))
    return names


def _imported_modules(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"sessionary"}


def test_each_section_names_the_packages_its_samples_import() -> None:
    # The page's environment holds the union of its install lines, so a section
    # that forgot its own line could run on another's: read each section alone
    # (with the lines above the page's first heading, which cover every section).
    providers = importlib.metadata.packages_distributions()
    checked = 0
    for path in FILES:
        preamble, *sections = re.split(r"(?m)^(?=## )", path.read_text(encoding="utf-8"))
        for section in [preamble, *sections]:
            named = _distributions(requirements_in(preamble + section))
            for _, source in blocks_in(section):
                for module in _imported_modules(source):
                    dists = {_normal(d) for d in providers.get(module, [module])}
                    title = section.splitlines()[0]
                    assert dists & named, f"{path.name} {title!r}: imports {module}, names none"
                    checked += 1
    assert checked >= 10  # the check saw the samples' third-party imports


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _hits_count_up(server: subprocess.Popen[bytes], port: int) -> list[str]:
    """Two requests from one visitor, once the server answers: their bodies."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        while True:
            try:
                first = client.get("/")
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer in 60 s"
                time.sleep(0.2)
        return [first.text, client.get("/").text]


def test_getting_started_serves_its_app_with_the_commands_it_shows(
    tmp_path: Path, environment: Callable[[Requirements], Path]
) -> None:
    page = ROOT / "docs" / "getting-started.md"
    text = page.read_text(encoding="utf-8")
    section = text.split("\n## Serving it\n", 1)[1].split("\n## ", 1)[0]
    ((_, source),) = blocks_in(section)
    (tmp_path / "app.py").write_text(source, encoding="utf-8")
    after = section.split(source, 1)[1]
    commands = [m.group(1) for m in re.finditer(r"^\$ (.+)$", after, re.MULTILINE)]
    assert [c.split()[0] for c in commands] == ["sessionary", "uvicorn", "gunicorn"]
    bindir = environment(requirements(page)).parent
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    for command in commands:
        port = _free_port()
        # Two workers are enough to show they share the store, on a small machine.
        argv = shlex.split(command.replace("8000", str(port)).replace("--workers 4", "--workers 2"))
        if argv[0] == "sessionary":
            done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            continue
        log = tmp_path / f"{argv[0]}.log"
        with log.open("wb") as output:
            server = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=output, stderr=output)
            try:
                hits = _hits_count_up(server, port)
            except AssertionError as exc:
                raise AssertionError(f"{command}: {exc}\n{log.read_text()}") from None
            finally:
                server.terminate()
                server.wait(timeout=30)
        assert hits == ["hits: 1", "hits: 2"], log.read_text()


def test_install_lines_are_read_from_console_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Install `sessionary[redis]`, in prose, is not an install line.\n\n"
        "```console\n$ pip install 'sessionary[starlette,flask]' httpx2  # a comment\n```\n",
        encoding="utf-8",
    )
    assert requirements(page) == Requirements(
        frozenset({"starlette", "flask"}), frozenset({"httpx2"})
    )


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
