"""SessionConfig: Django's defaults, start-up validation, environment variables."""

from __future__ import annotations

import pytest

from sessionary import ConfigurationError, SessionConfig
from sessionary.stores.database import DatabaseStore
from sessionary.stores.memory import MemoryStore

SECRET = "k" * 40


def test_defaults_follow_django() -> None:
    c = SessionConfig(store="memory://")
    assert c.cookie_name == "sessionid"
    assert c.cookie_age == 1_209_600
    assert c.cookie_path == "/"
    assert c.cookie_domain is None
    assert (c.cookie_secure, c.cookie_httponly, c.cookie_samesite) == (False, True, "Lax")
    assert not c.expire_at_browser_close
    assert not c.save_every_request
    assert c.transport == "cookie"
    assert c.max_session_bytes == 1_048_576
    assert c.on_store_error == "fail"
    assert c.idle_timeout is None
    assert c.absolute_timeout is None


def test_default_store_is_embedded_sqlite() -> None:
    store = SessionConfig().store
    assert isinstance(store, DatabaseStore)
    assert store.url == "sqlite:///sessionary.db"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"cookie_samesite": "sometimes"}, "cookie_samesite"),
        ({"cookie_samesite": "None"}, "cookie_samesite"),
        ({"cookie_age": -1}, "cookie_age"),
        ({"cookie_name": "bad name"}, "cookie_name"),
        ({"cookie_name": "__Host-sid"}, "cookie_name"),
        ({"cookie_path": "app"}, "cookie_path"),
        ({"transport": "carrier-pigeon"}, "transport"),
        ({"on_store_error": "ignore"}, "on_store_error"),
        ({"secret_key": "short"}, "secret_key"),
        ({"idle_timeout": -5}, "idle_timeout"),
        ({"store": "nope://x"}, "store"),
        ({"store": "not a url"}, "store"),
    ],
)
def test_bad_configuration_names_the_field(options: dict[str, object], field: str) -> None:
    options.setdefault("store", "memory://")
    with pytest.raises(ConfigurationError) as info:
        SessionConfig(**options)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_samesite_none_with_secure_is_fine() -> None:
    c = SessionConfig(store="memory://", cookie_samesite="none", cookie_secure=True)
    assert c.cookie_samesite == "None"


def test_from_env_reads_sessionary_variables() -> None:
    env = {
        "SESSIONARY_STORE_URL": "memory://",
        "SESSIONARY_SECRET_KEY": SECRET,
        "SESSIONARY_COOKIE_SECURE": "true",
        "SESSIONARY_COOKIE_AGE": "60",
        "SESSIONARY_COOKIE_DOMAIN": "example.com",
        "SESSIONARY_SECRET_KEY_FALLBACKS": f"{'a' * 32},{'b' * 32}",
        "SESSIONARY_IDLE_TIMEOUT": "none",
    }
    c = SessionConfig.from_env(env)
    assert isinstance(c.store, MemoryStore)
    assert c.secret_key == SECRET
    assert c.cookie_secure is True
    assert c.cookie_age == 60
    assert c.cookie_domain == "example.com"
    assert c.secret_key_fallbacks == ("a" * 32, "b" * 32)
    assert c.idle_timeout is None


def test_from_env_rejects_bad_values() -> None:
    with pytest.raises(ConfigurationError, match="cookie_age"):
        SessionConfig.from_env({"SESSIONARY_STORE_URL": "memory://", "SESSIONARY_COOKIE_AGE": "x"})


def test_repr_redacts_secrets() -> None:
    c = SessionConfig(store="memory://", secret_key=SECRET, secret_key_fallbacks=["f" * 32])
    assert SECRET not in repr(c)
    assert "f" * 32 not in repr(c)
    assert "***" in repr(c)


def test_partitioned_needs_secure_and_priority_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="cookie_partitioned"):
        SessionConfig(store="memory://", cookie_partitioned=True)
    with pytest.raises(ConfigurationError, match="cookie_priority"):
        SessionConfig(store="memory://", cookie_priority="urgent")
    c = SessionConfig(store="memory://", cookie_priority="low")
    assert c.cookie_priority == "Low"


def test_the_typed_init_matches_the_fields() -> None:
    # SessionConfig declares its __init__ for the type checker only (so that
    # ``store`` takes a URL); it must name the fields, in order, with their defaults.
    import ast
    import dataclasses
    import inspect

    import sessionary._config as module

    tree = ast.parse(inspect.getsource(module))
    declared = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
    )
    names = [arg.arg for arg in declared.args.args[1:]]
    fields = dataclasses.fields(SessionConfig)
    assert names == [f.name for f in fields]
    defaults = [ast.literal_eval(d) for d in declared.args.defaults]
    for f, default in zip(fields, defaults, strict=True):
        if f.name == "store":
            assert default is Ellipsis
            assert f.default_factory is not dataclasses.MISSING
        else:
            assert default == f.default, f.name
