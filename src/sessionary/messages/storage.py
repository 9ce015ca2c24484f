"""Where flash messages wait between requests: the session, a signed cookie, or both.

The three storages follow Django's ``contrib.messages``: iterating a storage
marks its messages used, so they are shown once; messages that were not
iterated are kept for the next request. ``SessionStorage`` writes through to
the session at once (the session middleware saves it); the cookie-backed
storages compute a ``Set-Cookie`` header that :mod:`.middleware` sends.

Messages are stored as JSON in Django's own layout (``_messages``, a list of
``["__json_message", 0, level, text, extra_tags]``), so a Django view and an
ASGI service sharing a session also share pending messages. No pickle.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..cookies import format_delete_cookie, format_set_cookie
from ..exceptions import BadSignature
from . import _signing
from .constants import DEFAULT_LEVEL, DEFAULT_TAGS

__all__ = [
    "SESSION_KEY",
    "BaseStorage",
    "CookieSettings",
    "CookieStorage",
    "FallbackStorage",
    "Message",
    "SessionStorage",
]

logger = logging.getLogger("sessionary.security")

SESSION_KEY = "_messages"
_MESSAGE_KEY = "__json_message"
_NOT_FINISHED = "__messagesnotfinished__"


@dataclass(slots=True)
class Message:
    """One flash message: ``str(message)`` is its text."""

    level: int
    message: str
    extra_tags: str = ""

    def __str__(self) -> str:
        return self.message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.level, self.message) == (other.level, other.message)

    @property
    def level_tag(self) -> str:
        """The level's tag (``"success"``), or ``""`` for a custom level."""
        return DEFAULT_TAGS.get(self.level, "")

    @property
    def tags(self) -> str:
        """``extra_tags`` then ``level_tag``, space-separated, as Django renders them."""
        return " ".join(tag for tag in (self.extra_tags, self.level_tag) if tag)


def encode_messages(messages: Sequence[Message], *, more: bool = False) -> str:
    """JSON text of ``messages``, in Django's ``MessageEncoder`` layout."""
    items: list[Any] = [[_MESSAGE_KEY, 0, m.level, m.message, m.extra_tags] for m in messages]
    if more:
        items.append(_NOT_FINISHED)
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def decode_messages(text: Any) -> tuple[list[Message], bool]:
    """Messages from :func:`encode_messages` text, and whether all were there.

    Anything malformed (a tampered store, another program's data) decodes to
    no messages: flash messages are never worth an error page.
    """
    try:
        items = json.loads(text)
    except (TypeError, ValueError):
        items = None
    if not isinstance(items, list):
        return [], True
    messages: list[Message] = []
    complete = True
    for item in items:
        if item == _NOT_FINISHED:
            complete = False
        elif (
            isinstance(item, list)
            and len(item) in (4, 5)
            and item[0] == _MESSAGE_KEY
            and isinstance(item[2], int)
            and isinstance(item[3], str)
        ):
            extra = item[4] if len(item) == 5 and isinstance(item[4], str) else ""
            messages.append(Message(item[2], item[3], extra))
    return messages, complete


class BaseStorage:
    """Django's storage protocol: loaded and queued messages, ``used`` after iteration."""

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self.level = self.default_level = level
        self.used = False
        self.added_new = False
        self._queued: list[Message] = []
        self._loaded_cache: list[Message] | None = None

    # -- what subclasses provide -------------------------------------------------

    def _load(self) -> tuple[list[Message], bool]:
        """The stored messages, and whether they are all of them."""
        raise NotImplementedError

    def _store(self, messages: list[Message], *, remove_oldest: bool = True) -> list[Message]:
        """Keep ``messages`` (replacing what was stored); return those that did not fit."""
        raise NotImplementedError

    def _changed(self) -> None:
        """Called after an add or an iteration; write-through storages store here."""

    # -- the protocol ------------------------------------------------------------------

    @property
    def _loaded(self) -> list[Message]:
        if self._loaded_cache is None:
            self._loaded_cache = self._load()[0]
        return self._loaded_cache

    def __len__(self) -> int:
        return len(self._loaded) + len(self._queued)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[Message]:
        self.used = True
        if self._queued:
            self._loaded.extend(self._queued)
            self._queued = []
        messages = list(self._loaded)
        self._changed()
        return iter(messages)

    def __contains__(self, item: object) -> bool:
        return item in self._loaded or item in self._queued

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: pending={len(self)} used={self.used}>"

    def add(self, level: int, message: str, extra_tags: str = "") -> bool:
        """Queue a message; ``False`` (and nothing stored) when below :attr:`level`."""
        if not message or level < self.level:
            return False
        self.added_new = True
        self._queued.append(Message(level, str(message), extra_tags or ""))
        self._changed()
        return True

    def update(self) -> list[Message]:
        """Store what is still pending (Django's ``update``); return what did not fit."""
        if self.used:
            return self._store(self._queued)
        if self.added_new:
            return self._store(self._loaded + self._queued)
        return []


class SessionStorage(BaseStorage):
    """Messages in the session under ``_messages`` (the default), written through at once."""

    def __init__(self, session: MutableMapping[str, Any], level: int = DEFAULT_LEVEL) -> None:
        super().__init__(level)
        self.session = session

    def _load(self) -> tuple[list[Message], bool]:
        if SESSION_KEY not in self.session:
            return [], True
        return decode_messages(self.session[SESSION_KEY])

    def _store(self, messages: list[Message], *, remove_oldest: bool = True) -> list[Message]:
        if messages:
            self.session[SESSION_KEY] = encode_messages(messages)
        else:
            self.session.pop(SESSION_KEY, None)
        return []

    def _changed(self) -> None:
        # The session is saved by its middleware when the response starts:
        # writing now means no messages middleware is needed for this storage.
        self.update()


@dataclass(frozen=True, slots=True)
class CookieSettings:
    """How the messages cookie is signed and sent."""

    secret_key: str
    secret_key_fallbacks: Sequence[str] = ()
    cookie_name: str = "messages"
    max_cookie_size: int = 2048
    cookie_path: str = "/"
    cookie_domain: str | None = None
    cookie_secure: bool = False
    cookie_httponly: bool = True
    cookie_samesite: str | None = "Lax"


class CookieStorage(BaseStorage):
    """Messages in a signed cookie (the visitor can read them, not forge them).

    ``incoming`` is the cookie's value as the request carried it; after
    :meth:`update`, :meth:`set_cookie_header` gives the header to send.
    """

    def __init__(
        self, settings: CookieSettings, incoming: str | None, level: int = DEFAULT_LEVEL
    ) -> None:
        super().__init__(level)
        self.settings = settings
        self.incoming = incoming
        self._outgoing: str | None = None
        self._touched = False

    def _load(self) -> tuple[list[Message], bool]:
        if not self.incoming:
            return [], True
        s = self.settings
        try:
            text = _signing.unsign(
                self.incoming, (s.secret_key, *s.secret_key_fallbacks), s.cookie_name
            )
        except BadSignature:
            logger.info("ignored a messages cookie with a bad signature")
            return [], True
        return decode_messages(text)

    def _store(self, messages: list[Message], *, remove_oldest: bool = True) -> list[Message]:
        unstored: list[Message] = []
        kept = list(messages)
        value = self._encode(kept, more=False)
        while kept and len(value) > self.settings.max_cookie_size:
            if remove_oldest:
                unstored.append(kept.pop(0))
            else:
                unstored.insert(0, kept.pop())
            value = self._encode(kept, more=bool(unstored) and not remove_oldest)
        self._touched = True
        self._outgoing = value if kept else None
        return unstored

    def _encode(self, messages: list[Message], *, more: bool) -> str:
        s = self.settings
        return _signing.sign(encode_messages(messages, more=more), s.secret_key, s.cookie_name)

    def set_cookie_header(self) -> str | None:
        """The ``Set-Cookie`` value this response needs, or ``None``."""
        if not self._touched:
            return None
        s = self.settings
        attributes: dict[str, Any] = {
            "path": s.cookie_path,
            "domain": s.cookie_domain,
            "secure": s.cookie_secure,
            "httponly": s.cookie_httponly,
            "samesite": s.cookie_samesite,
        }
        if self._outgoing is not None:
            return format_set_cookie(s.cookie_name, self._outgoing, **attributes)
        if self.incoming is not None:
            return format_delete_cookie(s.cookie_name, **attributes)
        return None


class FallbackStorage(BaseStorage):
    """Cookie first; what does not fit in the cookie waits in the session (Django's default)."""

    def __init__(
        self, cookie: CookieStorage, session: SessionStorage, level: int = DEFAULT_LEVEL
    ) -> None:
        super().__init__(level)
        self.cookie = cookie
        self.session_storage = session
        self._session_read = False

    def _load(self) -> tuple[list[Message], bool]:
        messages, complete = self.cookie._load()
        if not complete:
            # Only a cookie that says "more in the session" costs a session read.
            self._session_read = True
            more, complete = self.session_storage._load()
            messages.extend(more)
        return messages, complete

    def _store(self, messages: list[Message], *, remove_oldest: bool = True) -> list[Message]:
        unstored = self.cookie._store(messages, remove_oldest=False)
        if unstored or self._session_read:
            self.session_storage._store(unstored)
        return []

    def set_cookie_header(self) -> str | None:
        return self.cookie.set_cookie_header()
