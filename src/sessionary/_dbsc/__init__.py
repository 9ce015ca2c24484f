"""Device Bound Session Credentials (W3C DBSC), server side. Public switch: ``sessionary.dbsc``.

How it fits (and why):

- ``config``: :class:`DBSCConfig`, a small frozen object passed as
  ``SessionConfig(dbsc=...)``. Off by default; with it off no header is sent
  and the edges pay one attribute test per request.
- ``_sfv``: the few RFC 9651 shapes the headers use, parsed strictly. A
  small parser rather than a dependency: five header shapes, and the one
  library on PyPI (``http-sfv``) has had no release since early 2024.
- ``proof``: the ``dbsc+jwt`` verified with ``cryptography`` (ES256 with
  raw R||S and point validation, RS256 of 2048 bits or more; ``none`` and
  everything else refused), RFC 7638 thumbprints.
- ``binding``: what is kept, in the session record's metadata through the
  session's named API (``get_meta``/``set_meta``). Living in the record, the
  binding is hashed-key addressed, expires, is revoked and is deleted with
  it on every server-side store, with no store change. Cookie values are
  kept as hashes; the offer's challenge sealed under the session key.
- ``offer``: the single-use registration challenge and its header.
- ``endpoints``: registration and refresh as sans-I/O steps (request facts
  in, status/headers/body out, session changes staged), run by both store
  APIs. Single use and compare-and-set come from claims
  (``sessionary._claims``): one winner among racers on every store.
- ``edges``: request facts from ASGI/WSGI/Django, enforcement (a bound
  session without its live bound cookie is served as an empty,
  unauthenticated session: no downgrade), ``Secure-Session-Skipped``.
"""
