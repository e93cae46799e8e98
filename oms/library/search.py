"""Track search over the catalog: FTS5 with bm25 column weights and prefix matching on the
last word, a trigram pass for typos when FTS finds nothing, filters, sorts and cursors.

Any user text is safe: it is cut into words and each word is quoted for FTS.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import get_args

from oms.db.database import Database
from oms.errors import InvalidRequest
from oms.library import store
from oms.library.records import Credit, fold
from oms.library.store import SortOrder, TrackFilters

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SortOrder",
    "TrackView",
    "fts_query",
    "get_track",
    "get_tracks",
    "search_tracks",
]

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
# Longer input is cut: nobody types more, and it bounds the work a query can ask for.
_MAX_QUERY_CHARS = 256
_MAX_WORDS = 12
# bm25 weights of track_search's columns: title, artists, release, genres+tags, lyrics.
_WEIGHTS = (10.0, 5.0, 3.0, 2.0, 1.0)
_WORD = re.compile(r"\w+")
_FUZZY_CANDIDATES = 200
_FUZZY_MIN_SIMILARITY = 0.7


@dataclass(frozen=True)
class TrackView:
    """A track as a player needs it; the XRPC edge serialises it (and derives the stream
    address from `did` and `audio_cid`)."""

    uri: str
    cid: str
    did: str
    title: str
    artists: tuple[Credit, ...]
    release_uri: str | None
    release_title: str | None
    duration_ms: int | None
    genres: tuple[str, ...]
    license: str
    created_at: int
    origin: str
    like_count: int
    audio_cid: str
    artwork_cid: str | None
    visibility: str


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


def _offset(cursor: str | None) -> int:
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
    offset = _offset(cursor)
    filters = _filters(genre, artist, license, min_duration_ms, max_duration_ms)
    now = int(time.time() * 1000)
    text = (q or "").strip()
    if not text:
        ids = await store.browse_track_ids(db, filters, sort, limit + 1, offset, now)
    else:
        match = fts_query(text)
        if match is None:
            return [], None
        ids = await store.fts_track_ids(db, match, _WEIGHTS, filters, sort, limit + 1, offset, now)
        if not ids and offset == 0:
            # The typo pass ranks by similarity and fits on one page.
            fuzzy = await _fuzzy(db, text, filters, limit)
            return await _views(db, await store.tracks_by_id(db, fuzzy)), None
    more = len(ids) > limit
    views = await _views(db, await store.tracks_by_id(db, ids[:limit]))
    return views, str(offset + limit) if more else None


async def _fuzzy(db: Database, text: str, filters: TrackFilters, limit: int) -> list[int]:
    words = [w for w in _WORD.findall(fold(text[:_MAX_QUERY_CHARS]))[:_MAX_WORDS] if len(w) >= 3]
    trigrams = sorted({w[i : i + 3] for w in words for i in range(len(w) - 2)})
    if not trigrams:
        return []
    match = " OR ".join(f'"{t}"' for t in trigrams)
    candidates = await store.fuzzy_candidates(db, match, filters, _FUZZY_CANDIDATES)
    scored = []
    for row in candidates:
        known = _WORD.findall(f"{row['title']} {row['artists']}")
        similarity = min(_best_similarity(w, known) for w in words)
        if similarity >= _FUZZY_MIN_SIMILARITY:
            scored.append((-similarity, row["uri"], int(row["id"])))
    scored.sort()
    return [track_id for _, _, track_id in scored[:limit]]


def _best_similarity(word: str, known: Sequence[str]) -> float:
    best = 0.0
    for candidate in known:
        best = max(best, SequenceMatcher(None, word, candidate).ratio())
        if len(candidate) > len(word):  # still typing: compare with the word's start
            best = max(best, SequenceMatcher(None, word, candidate[: len(word)]).ratio())
    return best


async def _views(db: Database, rows: Sequence[sqlite3.Row]) -> list[TrackView]:
    uris = [row["uri"] for row in rows]
    credits: dict[str, list[Credit]] = {}
    for c in await store.credits_of(db, uris):
        credits.setdefault(c["track_uri"], []).append(Credit(c["name"], c["did"], c["role"]))
    genres: dict[str, list[str]] = {}
    for g in await store.genres_of(db, uris):
        genres.setdefault(g["track_uri"], []).append(g["genre"])
    return [
        TrackView(
            uri=row["uri"],
            cid=row["cid"],
            did=row["did"],
            title=row["title"],
            artists=tuple(credits.get(row["uri"], ())),
            release_uri=row["release_uri"],
            release_title=row["release_title"],
            duration_ms=row["duration_ms"],
            genres=tuple(genres.get(row["uri"], ())),
            license=row["license"],
            created_at=row["created_at"],
            origin=row["origin"],
            like_count=row["like_count"],
            audio_cid=row["audio_cid"],
            artwork_cid=row["artwork_cid"],
            visibility=row["visibility"],
        )
        for row in rows
    ]


async def get_track(db: Database, uri: str) -> TrackView | None:
    """One track by its AT-URI, unlisted ones included (whoever has the address may play it)."""
    found = await get_tracks(db, [uri])
    return found[0] if found else None


async def get_tracks(db: Database, uris: Sequence[str]) -> list[TrackView]:
    """The tracks of `uris` that the catalog holds, in the order asked for."""
    wanted = list(dict.fromkeys(uris))[:MAX_LIMIT]
    rows = {row["uri"]: row for row in await store.fetch_tracks(db, wanted)}
    return await _views(db, [rows[uri] for uri in wanted if uri in rows])
