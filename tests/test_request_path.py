"""The request path's shortcuts give what the long way gives."""

from __future__ import annotations

from email.utils import formatdate

from hypothesis import given
from hypothesis import strategies as st

from sessionary import SessionConfig, _core


@given(st.integers(min_value=0, max_value=253402300799))  # up to 9999-12-31T23:59:59Z
def test_cookie_expiry_dates_are_spelled_as_email_utils_spells_them(second: int) -> None:
    config = SessionConfig(store="memory://")
    cookie = _core.session_cookie(config, "k", 60, float(second) + 0.25)
    assert f"expires={formatdate(second, usegmt=True)};" in cookie
