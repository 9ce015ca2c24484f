"""The public surface: what SPEC names is importable, and __all__ stays sorted."""

from __future__ import annotations

import sessionary
import sessionary.stores


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
