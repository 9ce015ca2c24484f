"""``ComposedStore``: a store made of a key-hash backend in each colour.

The faces are written once, async, in ``_async/_composed.py`` (the sync one
is generated from it). A store sets ``self._async`` and ``self._sync`` in its
``__init__``: an async backend and its generated sync twin, or a sync-only
backend and :class:`~sessionary.stores._adapters.InThread` over it.
"""

from __future__ import annotations

from typing import Any

from ._async._composed import AsyncComposed
from ._sync._composed import SyncComposed

__all__ = ["ComposedStore"]


class ComposedStore(AsyncComposed, SyncComposed):
    """Every store operation, routed to the backend of the caller's colour."""

    _async: Any
    _sync: Any

    def _now(self) -> float:
        # Backends read the time through this, so replacing ``store.clock``
        # after construction (as tests do) reaches them.
        return self.clock()
