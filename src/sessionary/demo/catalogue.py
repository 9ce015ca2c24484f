"""The shop's records, and browsing them: filter, search and paginate, all from the URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["GENRES", "PER_PAGE", "RECORDS", "Listing", "Record", "browse", "find"]

# A multiple of the grid's 1, 2, 3 and 4 columns: every page ends on a full row.
PER_PAGE = 12
_MAX_QUERY = 80


@dataclass(frozen=True, slots=True)
class Record:
    """One album on sale."""

    id: int
    title: str
    artist: str
    year: int
    genre: str
    price_cents: int

    @property
    def initials(self) -> str:
        words = [w for w in self.title.split() if w[:1].isupper() or w[:1].isdigit()]
        return "".join(w[0] for w in words[:2]).upper()


_ROWS = [
    ("Kind of Blue", "Miles Davis", 1959, "jazz", 2499),
    ("A Love Supreme", "John Coltrane", 1965, "jazz", 2299),
    ("Time Out", "The Dave Brubeck Quartet", 1959, "jazz", 1999),
    ("Mingus Ah Um", "Charles Mingus", 1959, "jazz", 1899),
    ("Head Hunters", "Herbie Hancock", 1973, "jazz", 2099),
    ("Moanin'", "Art Blakey & The Jazz Messengers", 1958, "jazz", 1799),
    ("Blue Train", "John Coltrane", 1958, "jazz", 2199),
    ("Abbey Road", "The Beatles", 1969, "rock", 2799),
    ("Horses", "Patti Smith", 1975, "rock", 2199),
    ("Remain in Light", "Talking Heads", 1980, "rock", 2399),
    ("OK Computer", "Radiohead", 1997, "rock", 2599),
    ("Goldberg Variations", "Glenn Gould", 1955, "classical", 1699),
    ("The Four Seasons", "I Musici", 1959, "classical", 1499),
    ("Music for 18 Musicians", "Steve Reich", 1978, "classical", 2299),
    ("Spiegel im Spiegel", "Arvo Pärt", 1999, "classical", 1899),
    ("Selected Ambient Works 85-92", "Aphex Twin", 1992, "electronic", 2499),
    ("Music Has the Right to Children", "Boards of Canada", 1998, "electronic", 2699),
    ("Discovery", "Daft Punk", 2001, "electronic", 2899),
    ("Trans-Europe Express", "Kraftwerk", 1977, "electronic", 2299),
    ("What's Going On", "Marvin Gaye", 1971, "soul", 2199),
    ("Songs in the Key of Life", "Stevie Wonder", 1976, "soul", 3199),
    ("I Never Loved a Man", "Aretha Franklin", 1967, "soul", 1999),
    ("Blue", "Joni Mitchell", 1971, "folk", 2099),
    ("Pink Moon", "Nick Drake", 1972, "folk", 1899),
    ("Bringing It All Back Home", "Bob Dylan", 1965, "folk", 2199),
]
RECORDS: tuple[Record, ...] = tuple(Record(i, *row) for i, row in enumerate(_ROWS, start=1))
_BY_ID = {record.id: record for record in RECORDS}
GENRES: tuple[str, ...] = tuple(sorted({record.genre for record in RECORDS}))


def find(record_id: object) -> Record | None:
    """The record with this id (a form's string is fine), or ``None``."""
    try:
        return _BY_ID.get(int(str(record_id)))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of the catalogue, with the filter state that produced it."""

    items: tuple[Record, ...]
    page: int
    pages: int
    total: int
    genre: str | None
    query: str

    def url(self, page: int) -> str:
        """The catalogue URL for ``page``, keeping this listing's filters."""
        return _url(self.genre, self.query, page)

    def genre_url(self, genre: str | None) -> str:
        """The first page of ``genre`` (``None``: every genre), keeping the search."""
        return _url(genre, self.query, 1)

    @property
    def first(self) -> int:
        return (self.page - 1) * PER_PAGE + 1 if self.total else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.total else 0


def _url(genre: str | None, query: str, page: int) -> str:
    params: dict[str, str | int] = {}
    if genre:
        params["genre"] = genre
    if query:
        params["q"] = query
    if page > 1:
        params["page"] = page
    return "/records" + (f"?{urlencode(params)}" if params else "")


def browse(params: Mapping[str, str]) -> Listing:
    """The page the URL's ``genre``, ``q`` and ``page`` ask for; bad values fall back."""
    genre = params.get("genre") or None
    if genre not in GENRES:
        genre = None
    query = (params.get("q") or "").strip()[:_MAX_QUERY]
    needle = query.casefold()
    matches = [
        r
        for r in RECORDS
        if (genre is None or r.genre == genre)
        and (not needle or needle in r.title.casefold() or needle in r.artist.casefold())
    ]
    pages = max(1, -(-len(matches) // PER_PAGE))
    try:
        page = int(params.get("page") or 1)
    except ValueError:
        page = 1
    page = min(max(page, 1), pages)
    start = (page - 1) * PER_PAGE
    return Listing(
        items=tuple(matches[start : start + PER_PAGE]),
        page=page,
        pages=pages,
        total=len(matches),
        genre=genre,
        query=query,
    )
