"""Artist, release and genre reads: the rows behind artist and release views, their searches,
new releases and the genre list."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from oms.db.database import Database
from oms.library.store.tracks import in_order

__all__ = [
    "ARTISTS",
    "RELEASES",
    "SearchKind",
    "account_artist_row",
    "artist_rows",
    "genre_counts",
    "local_artist_dids",
    "new_release_rows",
    "release_rows",
    "release_track_uris",
    "releases_of",
    "rows_by_id",
    "search_ids",
    "track_lengths",
]

# A release is listed once it has a public track the catalog holds.
_PUBLIC_TRACKS = (
    "SELECT t.uri, t.duration_ms FROM release_tracks rt JOIN tracks t ON t.uri = rt.track_uri"
    " WHERE rt.release_uri = r.uri AND t.visibility = 'public'"
)
_RELEASE_SELECT = (
    "SELECT r.rowid AS id, r.uri, r.cid, r.did, r.title, r.kind, r.artists, r.artwork_cid,"  # noqa: S608
    " r.release_date, r.label, r.upc, r.genres, r.created_at, r.origin,"
    f" (SELECT count(*) FROM ({_PUBLIC_TRACKS})) AS track_count,"
    f" (SELECT coalesce(sum(duration_ms), 0) FROM ({_PUBLIC_TRACKS})) AS duration_ms"
    " FROM releases r"
)
_ARTIST_COUNTS = (
    " (SELECT count(*) FROM tracks t WHERE t.did = {did} AND t.visibility = 'public')"
    " AS track_count,"
    " (SELECT count(*) FROM releases r WHERE r.did = {did}) AS release_count,"
    " (SELECT coalesce(sum(s.like_count), 0) FROM tracks t"
    " JOIN track_stats s ON s.track_uri = t.uri WHERE t.did = {did}) AS like_count"
)
_ARTIST_SELECT = (
    "SELECT a.rowid AS id, a.did, acc.handle, a.uri, a.display_name, a.bio, a.avatar_cid,"  # noqa: S608
    " a.banner_cid, a.location, a.genres, a.links, a.support_links, a.origin,"
    + _ARTIST_COUNTS.format(did="a.did")
    + " FROM artists a LEFT JOIN accounts acc ON acc.did = a.did"
)


@dataclass(frozen=True)
class SearchKind:
    """Where one kind of catalog entry is searched: its FTS5 table and bm25 weights, and how
    its rows are read."""

    fts: str
    weights: tuple[float, ...]
    table: str
    key: str
    select: str


ARTISTS = SearchKind(
    fts="artist_search",
    weights=(10.0, 1.0),
    table="artists",
    key="did",
    select=_ARTIST_SELECT,
)
RELEASES = SearchKind(
    fts="release_search",
    weights=(10.0, 5.0, 1.0),
    table="releases",
    key="uri",
    select=_RELEASE_SELECT,
)


async def search_ids(
    db: Database, kind: SearchKind, match: str, limit: int, offset: int
) -> list[int]:
    bm25 = ", ".join(str(w) for w in kind.weights)
    sql = (
        f"SELECT rowid FROM {kind.fts} WHERE {kind.fts} MATCH ?"  # noqa: S608 - fixed names
        f" ORDER BY bm25({kind.fts}, {bm25}), rowid LIMIT ? OFFSET ?"
    )
    return [int(row[0]) for row in await db.fetchall(sql, (match, limit, offset))]


async def rows_by_id(db: Database, kind: SearchKind, ids: Sequence[int]) -> list[sqlite3.Row]:
    """The view rows of `ids`, in that order."""
    return in_order(await db.fetchall_in(f"{kind.select} WHERE {kind.table[0]}.rowid", ids), ids)


async def artist_rows(db: Database, dids: Sequence[str]) -> list[sqlite3.Row]:
    return await db.fetchall_in(f"{_ARTIST_SELECT} WHERE a.did", dids)


async def account_artist_row(db: Database, did: str) -> sqlite3.Row | None:
    """An artist view row for a local account without a profile record, named by its handle,
    when it has published a track."""
    return await db.fetchone(
        "SELECT acc.rowid AS id, acc.did, acc.handle, NULL AS uri, acc.handle AS display_name,"  # noqa: S608
        " NULL AS bio, NULL AS avatar_cid, NULL AS banner_cid, NULL AS location,"
        " '[]' AS genres, '[]' AS links, '[]' AS support_links, 'local' AS origin,"
        + _ARTIST_COUNTS.format(did="acc.did")
        + " FROM accounts acc WHERE acc.did = ? AND acc.status = 'active'"
        " AND EXISTS (SELECT 1 FROM tracks t WHERE t.did = acc.did)",
        (did,),
    )


async def local_artist_dids(db: Database, limit: int) -> list[str]:
    """The node's active accounts with public tracks, the latest to publish first."""
    rows = await db.fetchall(
        "SELECT t.did FROM tracks t JOIN accounts acc ON acc.did = t.did"
        " WHERE t.origin = 'local' AND t.visibility = 'public' AND acc.status = 'active'"
        " GROUP BY t.did ORDER BY max(t.created_at) DESC LIMIT ?",
        (limit,),
    )
    return [row["did"] for row in rows]


async def release_rows(db: Database, uris: Sequence[str]) -> list[sqlite3.Row]:
    return await db.fetchall_in(f"{_RELEASE_SELECT} WHERE r.uri", uris)


async def release_track_uris(db: Database, release_uri: str) -> list[str]:
    """The release's track references in order (whether or not the catalog holds them)."""
    rows = await db.fetchall(
        "SELECT track_uri FROM release_tracks WHERE release_uri = ? ORDER BY position",
        (release_uri,),
    )
    return [str(row[0]) for row in rows]


_LISTED = f"EXISTS ({_PUBLIC_TRACKS})"
_RELEASE_ORDER = "coalesce(r.release_date, r.created_at) DESC, r.uri"


async def releases_of(db: Database, did: str, limit: int) -> list[sqlite3.Row]:
    """The artist's listed releases, newest first."""
    return await db.fetchall(
        f"{_RELEASE_SELECT} WHERE r.did = ? AND {_LISTED} ORDER BY {_RELEASE_ORDER} LIMIT ?",
        (did, limit),
    )


async def new_release_rows(
    db: Database, now_ms: int, genre_key: str | None, limit: int, offset: int
) -> list[sqlite3.Row]:
    """Listed releases out by `now_ms` (none dated in the future), newest first."""
    genre = (
        " AND EXISTS (SELECT 1 FROM release_tracks rt JOIN track_genres g"
        " ON g.track_uri = rt.track_uri WHERE rt.release_uri = r.uri AND g.genre_key = ?)"
        if genre_key
        else ""
    )
    params: tuple[object, ...] = (now_ms, *((genre_key,) if genre_key else ()), limit, offset)
    return await db.fetchall(
        f"{_RELEASE_SELECT} WHERE coalesce(r.release_date, r.created_at) <= ?"
        f" AND {_LISTED}{genre} ORDER BY {_RELEASE_ORDER} LIMIT ? OFFSET ?",
        params,
    )


async def genre_counts(db: Database, limit: int) -> list[sqlite3.Row]:
    """(name, track_count) of the genres of public tracks, the most used first; a genre is
    named as most of its tracks spell it."""
    return await db.fetchall(
        "WITH used AS (SELECT g.genre_key, g.genre, count(*) AS n FROM track_genres g"
        " JOIN tracks t ON t.uri = g.track_uri WHERE t.visibility = 'public'"
        " GROUP BY g.genre_key, g.genre),"
        " named AS (SELECT genre_key, genre, n, row_number() OVER"
        " (PARTITION BY genre_key ORDER BY n DESC, genre) AS pick FROM used)"
        " SELECT (SELECT genre FROM named m WHERE m.genre_key = u.genre_key AND m.pick = 1)"
        " AS name, sum(n) AS track_count FROM used u GROUP BY genre_key"
        " ORDER BY track_count DESC, name LIMIT ?",
        (limit,),
    )


async def track_lengths(db: Database, uris: Sequence[str]) -> list[sqlite3.Row]:
    """(uri, did, title, duration_ms) of the tracks of `uris` the catalog holds; the length
    from the record, else as the node's media measured it (NULL when neither knows)."""
    return await db.fetchall_in(
        "SELECT t.uri, t.did, t.title, coalesce(t.duration_ms, m.duration_ms) AS duration_ms"
        " FROM tracks t LEFT JOIN media m ON m.did = t.did AND m.audio_cid = t.audio_cid"
        " WHERE t.uri",
        uris,
    )
