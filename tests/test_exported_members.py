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
