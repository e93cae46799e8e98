"""Track reads behind search and browsing: filters, orders, and the columns of one page of
track views. Searches return ids in order; the views' columns are read for one page only (a
sorter would otherwise carry every column of every match)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from oms.db.database import Database

__all__ = [
    "SortOrder",
    "TrackFilters",
    "browse_track_ids",
    "credits_of",
    "fts_track_ids",
    "genres_of",
    "in_order",
    "track_rows",
    "tracks_by_id",
]

SortOrder = Literal["relevance", "newest", "popular", "trending"]


@dataclass(frozen=True)
class TrackFilters:
    """Search filters; keys are `fold`ed (lower case, no diacritics)."""

    genre_key: str | None = None
    artist_did: str | None = None
    artist_key: str | None = None
    license: str | None = None
    min_duration_ms: int | None = None
    max_duration_ms: int | None = None


# A track's release is the one its record names or else the first of its artist's releases
# that lists it (tracks are often published before the release that gathers them).
_LISTED_ON = (
    "(SELECT rt.release_uri FROM release_tracks rt JOIN releases lr ON lr.uri = rt.release_uri"
    " AND lr.did = t.did WHERE rt.track_uri = t.uri ORDER BY lr.created_at, lr.uri LIMIT 1)"
)
_TRACK_SELECT = (
    "SELECT t.id, t.uri, t.cid, t.did, t.title, r.uri AS release_uri, r.title AS release_title,"
    " coalesce(t.track_number, (SELECT rt.position + 1 FROM release_tracks rt"
    " WHERE rt.release_uri = r.uri AND rt.track_uri = t.uri)) AS track_number,"
    " t.disc_number, t.duration_ms, t.license, t.explicit, t.downloadable,"
    " t.release_date, t.created_at, t.origin, t.audio_cid, t.artwork_cid, t.visibility,"
    " coalesce(s.like_count, 0) AS like_count, coalesce(s.play_count, 0) AS play_count,"
    " coalesce(s.listener_count, 0) AS listener_count,"
    " m.status AS media_status, m.loudness_lufs, m.true_peak_dbtp, m.gain_db,"
    " coalesce(m.has_cover, 0) AS has_cover"
)
_TRACK_FROM = (
    f" FROM tracks t LEFT JOIN releases r ON r.uri = coalesce(t.release_uri, {_LISTED_ON})"
    " LEFT JOIN track_stats s ON s.track_uri = t.uri"
    " LEFT JOIN media m ON m.did = t.did AND m.audio_cid = t.audio_cid"
)


def _where(filters: TrackFilters, params: dict[str, Any]) -> str:
    clauses = ["t.visibility = 'public'"]
    if filters.genre_key is not None:
        # IN (not EXISTS): the planner can then start from the genre's tracks.
        clauses.append(
            "t.uri IN (SELECT g.track_uri FROM track_genres g WHERE g.genre_key = :genre)"
        )
        params["genre"] = filters.genre_key
    if filters.artist_did is not None:
        clauses.append(
            "t.uri IN (SELECT o.uri FROM tracks o WHERE o.did = :artist_did"
            " UNION SELECT c.track_uri FROM track_credits c WHERE c.did = :artist_did)"
        )
        params["artist_did"] = filters.artist_did
    if filters.artist_key is not None:
        clauses.append(
            "t.uri IN (SELECT c.track_uri FROM track_credits c WHERE c.name_key = :artist_key)"
        )
        params["artist_key"] = filters.artist_key
    if filters.license is not None:
        clauses.append("t.license = :license")
        params["license"] = filters.license
    if filters.min_duration_ms is not None:
        clauses.append("t.duration_ms >= :min_ms")
        params["min_ms"] = filters.min_duration_ms
    if filters.max_duration_ms is not None:
        clauses.append("t.duration_ms <= :max_ms")
        params["max_ms"] = filters.max_duration_ms
    return " AND ".join(clauses)


# "popular": plays in the last 30 days, then likes; "trending": the discovery job's score.
_ORDERS = {
    "popular": "coalesce(s.recent_plays, 0) DESC, coalesce(s.like_count, 0) DESC, ",
    "trending": "coalesce(s.trend, 0) DESC, coalesce(s.like_count, 0) DESC, ",
}
_NEWEST = "t.created_at DESC, t.uri"
_STATS = " LEFT JOIN track_stats s ON s.track_uri = t.uri"


def _stats(sort: SortOrder) -> str:
    """The engagement join, for the orders that read it."""
    return _STATS if sort in _ORDERS else ""


def _order(sort: SortOrder, *, ranked: bool) -> str:
    if sort == "relevance" and ranked:
        return "score, t.id"  # ties in index order, the same order `_top_ranked` uses
    return _ORDERS.get(sort, "") + _NEWEST


async def _ids(db: Database, sql: str, params: dict[str, Any]) -> list[int]:
    return [int(row[0]) for row in await db.fetchall(sql, params)]


async def fts_track_ids(
    db: Database,
    match: str,
    weights: Sequence[float],
    filters: TrackFilters,
    sort: SortOrder,
    limit: int,
    offset: int,
) -> list[int]:
    bm25 = ", ".join(str(float(w)) for w in weights)
    if sort == "relevance" and filters == TrackFilters():
        found = await _top_ranked(db, match, bm25, limit, offset)
        if len(found) == limit:
            return found
        # Short: the end of the matches, or many unlisted ones among them; ask exactly.
    params: dict[str, Any] = {"match": match, "limit": limit, "offset": offset}
    sql = (
        f"SELECT t.id, bm25(track_search, {bm25}) AS score"  # noqa: S608 - fixed fragments
        f" FROM track_search JOIN tracks t ON t.id = track_search.rowid{_stats(sort)}"
        f" WHERE track_search MATCH :match AND {_where(filters, params)}"
        f" ORDER BY {_order(sort, ranked=True)} LIMIT :limit OFFSET :offset"
    )
    return await _ids(db, sql, params)


async def _top_ranked(db: Database, match: str, bm25: str, limit: int, offset: int) -> list[int]:
    """The page by relevance from the best-ranked matches alone: ranking inside the FTS
    table is much cheaper than ranking joined rows, and the page only needs the top."""
    params = {"match": match, "top": 2 * (offset + limit) + 50, "limit": limit, "offset": offset}
    sql = (
        f"SELECT t.id FROM (SELECT rowid, bm25(track_search, {bm25}) AS score"  # noqa: S608
        " FROM track_search WHERE track_search MATCH :match ORDER BY score, rowid LIMIT :top)"
        " AS best JOIN tracks t ON t.id = best.rowid WHERE t.visibility = 'public'"
        " ORDER BY best.score, best.rowid LIMIT :limit OFFSET :offset"
    )
    return await _ids(db, sql, params)


async def browse_track_ids(
    db: Database, filters: TrackFilters, sort: SortOrder, limit: int, offset: int
) -> list[int]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    sql = (
        f"SELECT t.id FROM tracks t{_stats(sort)} WHERE {_where(filters, params)}"  # noqa: S608
        f" ORDER BY {_order(sort, ranked=False)} LIMIT :limit OFFSET :offset"
    )
    return await _ids(db, sql, params)


def in_order(rows: Sequence[sqlite3.Row], ids: Sequence[int]) -> list[sqlite3.Row]:
    """`rows` (with an `id` column) in the order of `ids`, leaving out ids without a row."""
    by_id = {row["id"]: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


async def tracks_by_id(db: Database, ids: Sequence[int]) -> list[sqlite3.Row]:
    """The view columns of tracks `ids`, in that order."""
    return in_order(await db.fetchall_in(f"{_TRACK_SELECT}{_TRACK_FROM} WHERE t.id", ids), ids)


async def track_rows(db: Database, uris: Sequence[str]) -> list[sqlite3.Row]:
    """The view columns of the tracks of `uris` the catalog holds (in no particular order)."""
    return await db.fetchall_in(f"{_TRACK_SELECT}{_TRACK_FROM} WHERE t.uri", uris)


async def credits_of(db: Database, uris: Sequence[str]) -> list[sqlite3.Row]:
    return await db.fetchall_in(
        "SELECT track_uri, name, did, role FROM track_credits WHERE track_uri",
        uris,
        " ORDER BY track_uri, position",
    )


async def genres_of(db: Database, uris: Sequence[str]) -> list[sqlite3.Row]:
    return await db.fetchall_in(
        "SELECT track_uri, genre FROM track_genres WHERE track_uri",
        uris,
        " ORDER BY track_uri, position",
    )
