"""What mypy is told about a constructor matches what Python runs."""

from __future__ import annotations

import ast
import dataclasses
import inspect

from sessionary import SessionConfig
from sessionary import _config as config


def test_session_config_typed_init_takes_every_field_in_order_with_its_type() -> None:
    # SessionConfig's __init__ for type checkers is written out by hand (so that
    # ``store`` may be a URL); a field added to the dataclass must be added there too.
    tree = ast.parse(inspect.getsource(config))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SessionConfig")
    init = next(n for n in ast.walk(cls) if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    typed = [(a.arg, ast.unparse(a.annotation)) for a in init.args.args[1:] if a.annotation]
    fields = [(f.name, str(f.type)) for f in dataclasses.fields(SessionConfig)]
    assert typed == [(name, "Store | str" if name == "store" else t) for name, t in fields]
    assert list(inspect.signature(SessionConfig).parameters) == [name for name, _ in typed]
    assert len(init.args.defaults) == len(typed)
