"""Import the runnable examples (examples/ is not a package) and give each test a store."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from sessionary.stores import from_url

ROOT = Path(__file__).resolve().parents[1] / "examples"
DJANGO_PROJECT = ROOT / "django_project"


def load_example(name: str) -> ModuleType:
    """``examples/<name>.py`` as a module (``create_app`` builds an app per test)."""
    for path in (ROOT, DJANGO_PROJECT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    return importlib.import_module(name)


def sqlite_store_url(directory: Path) -> str:
    """A fresh, migrated SQLite store file under ``directory``."""
    url = f"sqlite:///{directory / 'sessions.db'}"
    store = from_url(url)
    store.migrate_sync()
    store.close()
    return url


def message_items(html: str) -> list[str]:
    """The ``<li>`` elements of a page's message list, in order."""
    start = html.index('<ul class="messages">')
    end = html.index("</ul>", start)
    return [part.split("</li>")[0] for part in html[start:end].split("<li ")[1:]]
