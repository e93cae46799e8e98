"""Catalog search: FTS5 with bm25 column weights and prefix matching on the last word, a
trigram pass for typos when FTS finds nothing, filters, sorts and cursors. Tracks, artists
and releases.

Any user text is safe: it is cut into words and each word is quoted for FTS.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import TypeVar, get_args

from oms.db.database import Database
from oms.errors import InvalidRequest
from oms.library import fuzzy
from oms.library.records import Credit, fold
from oms.library.store import catalog as catalog_store
from oms.library.store import tracks as store
from oms.library.store.tracks import SortOrder, TrackFilters
from oms.library.views import (
    ArtistView,
    ReleaseView,
    TrackView,
    artist_view,
    release_view,
    track_view,
)

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SortOrder",
    "fts_query",
    "get_track",
    "get_tracks",
    "page_offset",
    "search_artists",
    "search_releases",
    "search_tracks",
    "track_views",
]

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
# Longer input is cut: nobody types more, and it bounds the work a query can ask for.
_MAX_QUERY_CHARS = 256
_MAX_WORDS = 12
# bm25 weights of track_search's columns: title, artists, release, genres+tags, lyrics.
_WEIGHTS = (10.0, 5.0, 3.0, 2.0, 1.0)
_WORD = re.compile(r"\w+")
_V = TypeVar("_V")


def _words(q: str) -> list[str]:
    return _WORD.findall(q[:_MAX_QUERY_CHARS])[:_MAX_WORDS]


def fts_query(q: str) -> str | None:
    """An FTS5 query matching every word of `q`, the last one as a prefix; None when `q` has
    no words. Each word is quoted, so operators and quotes in `q` are plain text."""
    words = _words(q)
    if not words:
        return None
    parts = [f'"{w}"' for w in words]
    parts[-1] += "*"
    return " ".join(parts)


def _filters(
    genre: str | None,
    artist: str | None,
    license: str | None,
    min_duration_ms: int | None,
    max_duration_ms: int | None,
) -> TrackFilters:
    artist = artist.strip() if artist else None
    is_did = artist is not None and artist.startswith("did:")
    return TrackFilters(
        genre_key=fold(genre.strip()) if genre and genre.strip() else None,
        artist_did=artist if is_did else None,
        artist_key=fold(artist) if artist and not is_did else None,
        license=license or None,
        min_duration_ms=min_duration_ms,
        max_duration_ms=max_duration_ms,
    )


def page_offset(cursor: str | None) -> int:
    """The offset a cursor of ours stands for; InvalidRequest for anything else."""
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise InvalidRequest("cursor is not one this node gave out")
    return int(cursor)


async def search_tracks(
    db: Database,
    *,
    q: str | None = None,
    genre: str | None = None,
    artist: str | None = None,
    license: str | None = None,
    min_duration_ms: int | None = None,
    max_duration_ms: int | None = None,
    sort: SortOrder = "relevance",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> tuple[list[TrackView], str | None]:
    """Public tracks matching `q` and the filters, and the cursor of the next page (None at
    the end). Without `q`, "relevance" lists the newest first."""
    if sort not in get_args(SortOrder):
        raise InvalidRequest(f"sort must be one of {', '.join(get_args(SortOrder))}")
    limit = max(1, min(limit, MAX_LIMIT))
    offset = page_offset(cursor)
    filters = _filters(genre, artist, license, min_duration_ms, max_duration_ms)
    text = (q or "").strip()
    if not text:
        ids = await store.browse_track_ids(db, filters, sort, limit + 1, offset)
    else:
        match = fts_query(text)
        if match is None:
            return [], None
        ids = await store.fts_track_ids(db, match, _WEIGHTS, filters, sort, limit + 1, offset)
        if not ids and (
            offset == 0 or not await store.fts_track_ids(db, match, _WEIGHTS, filters, sort, 1, 0)
        ):
            # Nothing at all: the typo pass (its pages follow from the same cursor).
            corrected = await fuzzy.corrected_query(db, _words(text))
            if corrected is None:
                return [], None
            ids = await store.fts_track_ids(
                db, corrected, _WEIGHTS, filters, sort, limit + 1, offset
            )
    more = len(ids) > limit
    views = await track_views(db, await store.tracks_by_id(db, ids[:limit]))
    return views, str(offset + limit) if more else None


async def track_views(db: Database, rows: Sequence[sqlite3.Row]) -> list[TrackView]:
    """Views of track rows (as `tracks_by_id` / `track_rows` read them), in their order."""
    uris = [row["uri"] for row in rows]
    credits: dict[str, list[Credit]] = {}
    for c in await store.credits_of(db, uris):
        credits.setdefault(c["track_uri"], []).append(Credit(c["name"], c["did"], c["role"]))
    genres: dict[str, list[str]] = {}
    for g in await store.genres_of(db, uris):
        genres.setdefault(g["track_uri"], []).append(g["genre"])
    return [
        track_view(row, credits.get(row["uri"], ()), genres.get(row["uri"], ())) for row in rows
    ]


async def get_track(db: Database, uri: str) -> TrackView | None:
    """One track by its AT-URI, unlisted ones included (whoever has the address may play it)."""
    found = await get_tracks(db, [uri])
    return found[0] if found else None


async def get_tracks(db: Database, uris: Sequence[str]) -> list[TrackView]:
    """The tracks of `uris` that the catalog holds, in the order asked for."""
    wanted = list(dict.fromkeys(uris))[:MAX_LIMIT]
    rows = {row["uri"]: row for row in await store.track_rows(db, wanted)}
    return await track_views(db, [rows[uri] for uri in wanted if uri in rows])


async def search_artists(
    db: Database, q: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> tuple[list[ArtistView], str | None]:
    """Artists whose name (or location and genres) match `q`, the best first; typos forgiven."""
    return await _search_named(db, catalog_store.ARTISTS, q, limit, cursor, artist_view)


async def search_releases(
    db: Database, q: str, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> tuple[list[ReleaseView], str | None]:
    """Releases whose title, artists, label or genres match `q`, the best first."""
    return await _search_named(db, catalog_store.RELEASES, q, limit, cursor, release_view)


async def _search_named(
    db: Database,
    kind: catalog_store.SearchKind,
    q: str,
    limit: int,
    cursor: str | None,
    view: Callable[[sqlite3.Row], _V],
) -> tuple[list[_V], str | None]:
    limit = max(1, min(limit, MAX_LIMIT))
    offset = page_offset(cursor)
    match = fts_query(q)
    if match is None:
        return [], None
    ids = await catalog_store.search_ids(db, kind, match, limit + 1, offset)
    if not ids and (offset == 0 or not await catalog_store.search_ids(db, kind, match, 1, 0)):
        corrected = await fuzzy.corrected_query(db, _words(q))
        if corrected is None:
            return [], None
        ids = await catalog_store.search_ids(db, kind, corrected, limit + 1, offset)
    rows = await catalog_store.rows_by_id(db, kind, ids[:limit])
    more = len(ids) > limit
    return [view(row) for row in rows], str(offset + limit) if more else None
