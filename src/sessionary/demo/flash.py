"""Interim flash messages for the demo, to be replaced by ``sessionary.messages``.

``sessionary.messages`` is being built on another branch; until it lands, the
demo uses this small stand-in with the same calls (``success(request, text)``,
``get_messages(request)``, items with ``.message``, ``.level_tag``, ``.tags``;
iterating consumes). Delete this module when the real one is in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["add", "debug", "error", "get_messages", "info", "success", "warning"]

DEBUG, INFO, SUCCESS, WARNING, ERROR = 10, 20, 25, 30, 40
_TAGS = {DEBUG: "debug", INFO: "info", SUCCESS: "success", WARNING: "warning", ERROR: "error"}
_KEY = "_demo_messages"


@dataclass(frozen=True, slots=True)
class Message:
    level: int
    message: str
    extra_tags: str = ""

    @property
    def level_tag(self) -> str:
        return _TAGS.get(self.level, "")

    @property
    def tags(self) -> str:
        return " ".join(t for t in (self.extra_tags, self.level_tag) if t)

    def __str__(self) -> str:
        return self.message


def _session(target: Any) -> Any:
    return getattr(target, "session", target)


def add(target: Any, level: int, text: str, extra_tags: str = "") -> None:
    _session(target).setdefault(_KEY, []).append([level, text, extra_tags])


def debug(target: Any, text: str, extra_tags: str = "") -> None:
    add(target, DEBUG, text, extra_tags)


def info(target: Any, text: str, extra_tags: str = "") -> None:
    add(target, INFO, text, extra_tags)


def success(target: Any, text: str, extra_tags: str = "") -> None:
    add(target, SUCCESS, text, extra_tags)


def warning(target: Any, text: str, extra_tags: str = "") -> None:
    add(target, WARNING, text, extra_tags)


def error(target: Any, text: str, extra_tags: str = "") -> None:
    add(target, ERROR, text, extra_tags)


class _Pending:
    """The messages waiting for the visitor; iterating shows them once."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def __len__(self) -> int:
        return len(self._session.get(_KEY) or [])

    def __iter__(self) -> Iterator[Message]:
        stored = self._session.pop(_KEY, None) or []
        return iter([Message(int(level), str(text), str(tags)) for level, text, tags in stored])


def get_messages(target: Any) -> _Pending:
    return _Pending(_session(target))
