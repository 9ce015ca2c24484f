"""The few RFC 9651 structured-field shapes DBSC uses, parsed strictly.

DBSC headers are a list of items or inner lists with parameters
(``Secure-Session-Registration``, ``Secure-Session-Challenge``,
``Secure-Session-Skipped``) or a single string item
(``Secure-Session-Response``, ``Sec-Secure-Session-Id``). This parser
follows the RFC's algorithms for those: strings, tokens, integers,
decimals, booleans and byte sequences as bare items. Anything else (a
display string, a trailing comma, a control character) fails the whole
field with :class:`FieldError`, as section 4.2 asks.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

__all__ = [
    "FieldError",
    "Item",
    "Token",
    "parse_item",
    "parse_list",
    "parse_string",
    "serialize_string",
]


class FieldError(ValueError):
    """The header is not a well-formed structured field of the expected shape."""


@dataclass(frozen=True, slots=True)
class Token:
    """An ``sf-token`` (``ES256``, ``unreachable``)."""

    value: str


Bare = str | Token | int | float | bool | bytes


@dataclass(frozen=True, slots=True)
class Item:
    """A list member: a bare item, or an inner list of items, with its parameters."""

    value: Bare | tuple[Item, ...]
    params: dict[str, Bare] = field(default_factory=dict)


_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.at += 1

    def fail(self, what: str) -> FieldError:
        return FieldError(f"{what} at offset {self.at}")


def _string(r: _Reader) -> str:
    r.at += 1  # the opening quote
    out = []
    while True:
        char = r.peek()
        if not char:
            raise r.fail("unterminated string")
        r.at += 1
        if char == "\\":
            escaped = r.peek()
            if escaped not in ('"', "\\"):
                raise r.fail("bad escape in string")
            out.append(escaped)
            r.at += 1
        elif char == '"':
            return "".join(out)
        elif not " " <= char <= "~":
            raise r.fail("character outside printable ASCII in string")
        else:
            out.append(char)


def _bare(r: _Reader) -> Bare:
    char = r.peek()
    rest = r.text[r.at :]
    if char == '"':
        return _string(r)
    if char == "?":
        if rest[1:2] not in ("0", "1"):
            raise r.fail("bad boolean")
        r.at += 2
        return rest[1] == "1"
    if char == ":":
        match = _BYTES.match(rest)
        if match is None:
            raise r.fail("bad byte sequence")
        r.at += match.end()
        try:
            return base64.b64decode(match.group(1), validate=True)
        except binascii.Error:
            raise r.fail("bad base64 in byte sequence") from None
    if char == "-" or char.isdigit():
        match = _NUMBER.match(rest)
        if match is None or (match.group(1) is None and len(match.group(0).lstrip("-")) > 15):
            raise r.fail("bad number")
        r.at += match.end()
        text = match.group(0)
        return float(text) if match.group(1) else int(text)
    match = _TOKEN.match(rest)
    if match is None:
        raise r.fail("expected an item")
    r.at += match.end()
    return Token(match.group(0))


def _params(r: _Reader) -> dict[str, Bare]:
    params: dict[str, Bare] = {}
    while r.peek() == ";":
        r.at += 1
        r.skip(" ")
        match = _KEY.match(r.text, r.at)
        if match is None:
            raise r.fail("bad parameter key")
        r.at = match.end()
        value: Bare = True
        if r.peek() == "=":
            r.at += 1
            value = _bare(r)
        params[match.group(0)] = value
    return params


def _member(r: _Reader) -> Item:
    if r.peek() != "(":
        value = _bare(r)
        return Item(value, _params(r))
    r.at += 1
    items: list[Item] = []
    while True:
        r.skip(" ")
        if r.peek() == ")":
            r.at += 1
            return Item(tuple(items), _params(r))
        if items and r.text[r.at - 1] != " ":
            raise r.fail("inner list items need a space between them")
        items.append(Item(_bare(r), _params(r)))
        if r.peek() not in (" ", ")"):
            raise r.fail("bad inner list")


def parse_list(value: str) -> list[Item]:
    """An ``sf-list``; several header lines are joined with ``,`` first."""
    r = _Reader(value)
    r.skip(" \t")
    members: list[Item] = []
    while r.peek():
        members.append(_member(r))
        r.skip(" \t")
        if not r.peek():
            break
        if r.peek() != ",":
            raise r.fail("expected ',' between list members")
        r.at += 1
        r.skip(" \t")
        if not r.peek():
            raise r.fail("trailing comma")
    return members


def parse_item(value: str) -> Item:
    """An ``sf-item`` (a bare item and its parameters)."""
    r = _Reader(value)
    r.skip(" ")
    item = Item(_bare(r), _params(r))
    r.skip(" ")
    if r.peek():
        raise r.fail("unexpected text after the item")
    return item


def parse_string(value: str | None) -> str | None:
    """The string of a header whose value is one ``sf-string`` (parameters ignored), or ``None``."""
    if value is None:
        return None
    try:
        item = parse_item(value)
    except FieldError:
        return None
    return item.value if isinstance(item.value, str) else None


def serialize_string(value: str) -> str:
    """``value`` as an ``sf-string``; ``ValueError`` outside printable ASCII."""
    if any(not " " <= char <= "~" for char in value):
        raise ValueError("an sf-string holds printable ASCII only")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
