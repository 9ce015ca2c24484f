"""The session value codec: identical text and values with or without the speedups extra.

Stored text is written by the standard library alone (ASCII JSON), so it is
the same whatever is installed; the fast decoder (msgspec, from the
``speedups`` extra) must give back exactly what ``json`` gives back, or
leave the text to ``json``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionary import _serialization

TAG = "__sessionary__"


def reference_default(value: object) -> object:
    # The tagged forms the codec promises, written out independently of it.
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, Decimal):
        return {TAG: "decimal", "v": str(value)}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "v": str(value)}
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


REFERENCE = json.JSONEncoder(
    default=reference_default, ensure_ascii=True, allow_nan=False, separators=(",", ":")
)

# Every code point, lone surrogates included (hypothesis leaves them out by default).
any_text = st.text(st.characters(codec=None, blacklist_categories=()), max_size=12)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text
    # Fixed offsets: a named zone comes back as its offset (isoformat keeps no name).
    | st.datetimes(timezones=st.none() | offsets)
    | st.dates()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.uuids()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=16,
)


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (``-0.0`` is not ``0.0``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bool(a.hex() == b.hex())
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return bool(a == b)


@settings(max_examples=400, deadline=None)
@given(values)
def test_encoded_text_is_what_the_standard_library_writes(value: Any) -> None:
    text = _serialization.encode(value)
    assert text == REFERENCE.encode(value)
    assert text.isascii()


@settings(max_examples=400, deadline=None)
@given(values)
def test_decoding_gives_the_standard_librarys_value(value: Any) -> None:
    text = _serialization.encode(value)
    assert same(_serialization.decode(text), _serialization.decode_stdlib(text))
    assert same(_serialization.decode(text.encode("ascii")), _serialization.decode_stdlib(text))


@settings(max_examples=400, deadline=None)
@given(values)
def test_values_round_trip(value: Any) -> None:
    assert same(_serialization.decode(_serialization.encode(value)), value)


def decoded_or_error(decode: Any, text: str) -> Any:
    try:
        return ("value", decode(text))
    except ValueError:
        return ("error", None)


@settings(max_examples=400, deadline=None)
@given(
    st.text(st.sampled_from('{}[]",:.-+eE0123456789 \t\n\\u"abcdfnrtlsNIny\x01\x7f\u00e9'))
    | any_text
)
def test_any_stored_text_decodes_as_the_standard_library_decodes_it(text: str) -> None:
    # A tampered store may hold anything: the fast path accepts nothing json refuses.
    fast = decoded_or_error(_serialization.decode, text)
    stdlib = decoded_or_error(_serialization.decode_stdlib, text)
    assert fast[0] == stdlib[0]
    assert same(fast[1], stdlib[1])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"\\ud800"', "\ud800"),  # a lone surrogate: msgspec refuses it
        ("NaN", math.nan),
        ("1e400", math.inf),
        ("18446744073709551616", 2**64),
    ],
)
def test_text_the_fast_decoder_refuses_is_left_to_the_standard_library(
    text: str, expected: Any
) -> None:
    got = _serialization.decode(text)
    assert type(got) is type(expected)
    assert got == expected or (math.isnan(expected) and math.isnan(got))


@pytest.mark.parametrize("value", [math.nan, math.inf, [1.0, -math.inf], {1, 2}, b"x", object()])
def test_values_json_cannot_hold_are_refused_with_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        _serialization.encode(value)


def test_a_cycle_is_refused_with_type_error() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(TypeError, match="Circular"):
        _serialization.encode(cyclic)
    # The failed call leaves nothing behind: the same list, unlinked, encodes.
    cyclic.clear()
    assert _serialization.encode([cyclic, cyclic]) == "[[],[]]"


def test_plain_json_is_decoded_by_the_fast_decoder_when_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test environment installs every extra: speedups must be active in it.
    assert _serialization._fast_decode is not None

    def refuse(text: str) -> Any:
        raise AssertionError("plain JSON reached the standard library")

    monkeypatch.setattr(_serialization, "_stdlib_decode", refuse)
    assert _serialization.decode('{"cart":[1,2.5,"\\u00e9"]}') == {"cart": [1, 2.5, "é"]}


def test_without_speedups_the_standard_library_decodes_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_serialization, "_fast_decode", None)
    assert _serialization.decode('{"a":[1,"\\u00e9"]}') == {"a": [1, "é"]}
    assert _serialization.decode(
        '{"__sessionary__":"uuid","v":"12345678-1234-5678-1234-567812345678"}'
    ) == uuid.UUID("12345678-1234-5678-1234-567812345678")
