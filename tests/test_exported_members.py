"""The public surface, pinned both ways: what ``__all__`` names exists, and
nothing public exists that ``__all__`` (or the list of public modules) omits."""

from __future__ import annotations

import importlib
import types
from pathlib import Path

import pytest

import sessionary
import sessionary.stores

PUBLIC_NAMES = [
    "BadSignature",
    "ConfigurationError",
    "Session",
    "SessionConfig",
    "SessionError",
    "SessionKeyExists",
    "SessionMiddleware",
    "SessionTooLarge",
    "SignatureExpired",
    "StoreError",
    "StoreUnavailable",
    "UnserializableValue",
    "WSGISessionMiddleware",
    "__version__",
]
PUBLIC_MODULES = {
    "auth",
    "cli",
    "cookies",
    "dbsc",
    "demo",
    "events",
    "exceptions",
    "integrations",
    "messages",
    "signing",
    "stores",
    "telemetry",
    "templating",
    "transport",
}


def test_all_is_exactly_the_public_names() -> None:
    assert sessionary.__all__ == PUBLIC_NAMES


def test_every_public_attribute_is_in_all() -> None:
    public = {
        name
        for name, value in vars(sessionary).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__
    }
    assert public == set(PUBLIC_NAMES) - {"__version__"}


def test_public_modules_are_the_documented_ones() -> None:
    package = Path(sessionary.__file__).parent
    found = {
        path.stem if path.is_file() else path.name
        for path in package.iterdir()
        if not path.name.startswith("_")
        and (path.suffix == ".py" or (path / "__init__.py").is_file())
    }
    assert found == PUBLIC_MODULES


@pytest.mark.parametrize("private", ["session", "asgi", "wsgi", "config", "bench"])
def test_implementation_modules_are_private(private: str) -> None:
    # Import the public names from ``sessionary``; the modules behind them are
    # ``sessionary._session`` and so on, and are not an API.
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"sessionary.{private}")


def test_public_names_are_defined_in_private_modules() -> None:
    for name in ("Session", "SessionConfig", "SessionMiddleware", "WSGISessionMiddleware"):
        module = getattr(sessionary, name).__module__
        assert module.startswith("sessionary._"), (name, module)


def test_spec_names_are_exported() -> None:
    for name in ("Session", "SessionConfig", "SessionMiddleware", "WSGISessionMiddleware"):
        assert name in sessionary.__all__
        assert getattr(sessionary, name).__name__ == name
    assert callable(sessionary.stores.from_url)


def test_all_is_sorted_and_complete() -> None:
    public = sorted(sessionary.__all__)
    assert sessionary.__all__ == public
    for name in public:
        assert hasattr(sessionary, name)


def test_version_is_exposed() -> None:
    assert isinstance(sessionary.__version__, str)
    assert sessionary.__version__.count(".") >= 2


def test_core_and_messages_import_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sessionary, sessionary.messages, sessionary.templating, "
        "sessionary.integrations; "
        "print(sorted(m for m in ('flask', 'django', 'starlette', 'fastapi', 'jinja2') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_messages_surface() -> None:
    import sessionary.messages as messages

    assert messages.__all__ == sorted(messages.__all__, key=lambda n: (not n.isupper(), n))
    for name in ("debug", "info", "success", "warning", "error", "add", "get_messages"):
        assert callable(getattr(messages, name))
