"""Rotation that cannot be raced: one successor per key, a grace window, no lost write.

``cycle_key()`` moves a session from its key K to a fresh key N. Requests of
one visitor overlap (a burst right after a login redirect still carries K),
so several may rotate K at once, and others may write to K while it moves.
This module makes that safe with the four operations every store has (load,
create, apply, delete): no new store operation.

The winner. Every rotation of K first *claims* it (:mod:`sessionary._claims`):
a create-if-absent of a record under a key derived from K, atomic on every
server-side store, holding N sealed under K (the store sees only hashes and
sealed values, so it never holds a live key in clear). The claim lives for
the grace window. The one rotation that creates it:

1. loads K afresh (snapshot S) and creates N from S with its own request's
   change applied (``created``, user and metadata kept: the absolute timeout
   holds across rotations);
2. applies to K a *marker* (N sealed under K, the end of the window, and
   a tag of the client that rotated: an HMAC under K of its user agent and
   address), unbinds K from its user (the per-user index lists N only) and cuts K's
   expiry to the end of the window. The apply is atomic and returns K's
   record R as the marker left it;
3. writes that landed on K between S and R (another request's apply) are
   applied to N, except the keys its own change set: it is linearised last.

Every other request carrying K:

- a *loser* of the claim reads the claim, unseals N and applies its change
  to K: if the result shows no marker, the winner's step 3 carries the write
  to N; if it shows the marker, the request applies its change to N itself
  (N exists whenever the marker does: step 1 precedes step 2). Its response
  carries N: concurrent rotations end with one successor;
- an in-flight writer (it loaded K before the marker) applies to K as
  usual; a result with the marker sends its change to N the same way, and
  its response carries N;
- a request that *loads* K and finds the marker is served N's record (one
  more read, only for a rotated key: none on the common path), writes into
  N, and its response carries N. If it rotates too, it joins the rotation it
  followed (N stays the key): a second login of the same burst does not
  start a chain.

After the window the marker says K is dead, whatever K's record says (an
in-flight write may have extended it; it is cut back when seen).

A hole closed beyond the first design: every holder of K is not the
visitor. A key planted before login (fixation), polled by the attacker
through the login, would hand over N with the window. So each path to N
(a load that follows the marker, a write redirected by it, a loser of the
claim, whose claim value carries the same tag) requires the tag of the
client that rotated: another user agent or address gets nothing (its key is
dead; its write is dropped). A session opened without client details (the
Django engine, a ``Session`` built by hand) has the empty tag, matched only
by another such session.

What is known and accepted, and documented in docs/security.md: within the
window the same browser (user agent and address) holding K gets N, which is
the point, and an attacker behind the same address with the same user agent
as well; a request that loads K in the single
round trip between steps 2 and 3 may not see a write that landed on K
between steps 1 and 2, and a write of the same name it makes there can be
overwritten by step 3. ``rotation_grace=0`` gives the strict behaviour:
K is deleted at once and a request still carrying it starts afresh.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._claims import claim, read_claim, release, seal, unseal
from ._ops import Applied, Apply, Create, Delete, Load, Steps
from .exceptions import StoreError
from .stores.base import Change, SessionRecord, apply_change

if TYPE_CHECKING:
    from ._config import SessionConfig

__all__ = ["GONE", "MARKER", "Moved", "exists", "follow", "redirect", "rotate", "rotates"]

MARKER = "rot"
"""Meta entry of a rotated record: its successor's key, sealed under its own key."""
_UNTIL = "rot_until"  # meta entry: the end of the grace window, epoch seconds
_BY = "rot_by"  # meta entry: the client that rotated (see _client_tag)
_CLAIM = "rotation"
_SEAL = "successor"
_HOPS = 4  # a key rotated again within the window: follow a short chain, no more

Moved = tuple[str, SessionRecord]
"""Where a session now lives: its key and its record."""
GONE = "gone"
"""The session was ended meanwhile (a logout elsewhere, a revocation)."""


def rotates(config: SessionConfig) -> bool:
    """Whether ``cycle_key()`` under ``config`` keeps a grace window (a server-side store)."""
    return config.rotation_grace > 0 and not config.store.client_side


def exists(key: str) -> Steps[bool]:
    """Whether ``key`` is a live session of its own (a rotated key is not: it
    only serves its successor for the window)."""
    record: SessionRecord | None = yield Load(key)
    return record is not None and MARKER not in record.meta


def _client_tag(key: str, client: Mapping[str, str] | None) -> str:
    """Who rotated ``key``: its user agent and address, under an HMAC keyed by ``key``
    (``""`` for a session opened without them, as Django's engine opens it)."""
    if not client:
        return ""
    seen = f"sessionary/rotation-client\x00{client.get('ua', '')}\x00{client.get('ip', '')}"
    return hmac.new(key.encode("utf-8"), seen.encode("utf-8"), "sha256").hexdigest()[:32]


def _successor(
    key: str, record: SessionRecord, now: float, client: Mapping[str, str] | None
) -> str | None:
    sealed, until = record.meta.get(MARKER), record.meta.get(_UNTIL)
    if not isinstance(sealed, str) or not isinstance(until, (int, float)) or now >= until:
        return None
    if not hmac.compare_digest(str(record.meta.get(_BY, "")), _client_tag(key, client)):
        return None  # another device holds the old key: it gets nothing
    return unseal(key, _SEAL, sealed)


def _adopted(key: str, record: SessionRecord) -> SessionRecord:
    # A record read or written under another key (or whose version this
    # request cannot vouch for): no store may take its version for the
    # successor's in a fast path.
    return dataclasses.replace(record, key_hash="", version=-1)


def follow(
    config: SessionConfig, key: str, record: SessionRecord, client: Mapping[str, str] | None
) -> Steps[Moved | None]:
    """For a record carrying the marker: the successor's live key and record,
    or ``None`` once the window is over or for another client (the key is
    then dead)."""
    now = config.now()
    for _ in range(_HOPS):
        successor = _successor(key, record, now, client)
        if successor is None:
            return None
        found: SessionRecord | None = yield Load(successor)
        if found is None:
            return None
        key, record = successor, found
        if MARKER not in record.meta:
            return key, record
    return None


def redirect(
    config: SessionConfig,
    key: str,
    marked: SessionRecord,
    change: Change,
    client: Mapping[str, str] | None,
) -> Steps[Moved | str]:
    """Send ``change``, just applied to ``key`` whose record turned out rotated,
    to the successor: its key and record, or :data:`GONE`."""
    until = marked.meta.get(_UNTIL)
    if isinstance(until, (int, float)) and marked.expires > until:
        # Our write extended the predecessor: cut it back to the window.
        trim = Change(set={}, delete=frozenset(), last_seen=marked.last_seen, expires=until)
        yield Apply(key, trim, marked)
    moved = yield from follow(config, key, marked, client)
    if moved is None:
        return GONE
    successor, record = moved
    applied: Applied | None = yield Apply(successor, change, _adopted(successor, record))
    return GONE if applied is None else (successor, applied.record)


def rotate(
    config: SessionConfig,
    old: str,
    new: str,
    change: Change,
    base: SessionRecord,
    client: Mapping[str, str] | None,
) -> Steps[Moved | str | None]:
    """Rotate ``old`` (loaded as ``base``) to ``new`` with this request's ``change``.

    Returns where the session lives (``new``, or the winner's key when this
    request lost the claim), :data:`GONE`, or ``None`` when there is nothing
    to rotate from (``old`` already ended or rotated): the caller then
    deletes ``old`` and creates ``new`` as a plain new record.
    """
    now, grace = change.last_seen, config.rotation_grace
    sealed, by = seal(old, _SEAL, new), _client_tag(old, client)
    won = yield from claim(old, _CLAIM, now=now, ttl=grace, value=f"{sealed}:{by}")
    if not won:
        return (yield from _join(config, old, change, base, client))
    snapshot: SessionRecord | None = yield Load(old)
    if snapshot is None or MARKER in snapshot.meta:
        return None
    record = _successor_record(snapshot, change, client)
    try:
        yield Create(new, record)
    except StoreError:
        # The successor was refused (a value the store cannot hold, an outage):
        # give the claim back, or the next rotation would join a successor
        # that never existed. The old key lives on, unmarked.
        yield from release(old, _CLAIM)
        raise
    until = now + grace
    marker = Change(
        set={},
        delete=frozenset(),
        last_seen=now,
        expires=min(snapshot.expires, until),
        meta={MARKER: sealed, _UNTIL: until, _BY: by},
        set_user=True,
        user_id=None,
    )
    marked: Applied | None = yield Apply(old, marker, snapshot, "cycled")
    if marked is None:
        # Ended between the load and the marker (a revocation): so is the successor.
        yield Delete(new, "revoked")
        return GONE
    late = _late_writes(snapshot, marked.record, change, record)
    if late is None:
        return new, record
    applied: Applied | None = yield Apply(new, late, _adopted(new, record))
    return GONE if applied is None else (new, applied.record)


def _join(
    config: SessionConfig,
    old: str,
    change: Change,
    base: SessionRecord,
    client: Mapping[str, str] | None,
) -> Steps[Moved | str | None]:
    # Another request won the claim: this one's change joins its successor.
    value = yield from read_claim(old, _CLAIM)
    if value is None:
        return None  # the claim expired meanwhile: a window of its own
    sealed, _, by = value.partition(":")
    successor = unseal(old, _SEAL, sealed)
    if successor is None or not hmac.compare_digest(by, _client_tag(old, client)):
        return GONE  # another device rotated this key first: nothing for this one
    applied: Applied | None = yield Apply(old, change, base)
    if applied is None:
        return GONE
    if MARKER in applied.record.meta:
        return (yield from redirect(config, old, applied.record, change, client))
    # The winner has not marked the predecessor yet: its step 3 carries
    # this write to the successor, under which the response goes out.
    return successor, _adopted(successor, applied.record)


def _successor_record(
    snapshot: SessionRecord, change: Change, client: Mapping[str, str] | None
) -> SessionRecord:
    record = apply_change(snapshot, change)
    meta = record.meta
    if client:
        # The device it was first seen on stays; a record without one gains it.
        meta = {**{k: v for k, v in client.items() if v}, **meta}
    return dataclasses.replace(record, key_hash="", version=1, meta=meta)


def _late_writes(
    snapshot: SessionRecord, marked: SessionRecord, own: Change, created: SessionRecord
) -> Change | None:
    """What other requests wrote to the predecessor between the snapshot and
    the marker, minus what this request's own change decides."""
    data_set: dict[str, str] = {}
    data_delete: set[str] = set()
    if not own.clear:
        mine = own.set.keys() | own.delete
        for name, raw in marked.data.items():
            if name not in mine and snapshot.data.get(name) != raw:
                data_set[name] = raw
        data_delete = {n for n in snapshot.data if n not in marked.data and n not in mine}
    meta: dict[str, Any] = {}
    for name in (marked.meta.keys() | snapshot.meta.keys()) - {MARKER, _UNTIL, _BY}:
        value = marked.meta.get(name)
        if name not in own.meta and snapshot.meta.get(name) != value:
            meta[name] = value
    if not data_set and not data_delete and not meta:
        return None
    return Change(
        set=data_set,
        delete=frozenset(data_delete),
        last_seen=created.last_seen,
        expires=created.expires,
        meta=meta,
    )
