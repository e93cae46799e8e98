"""Discovery's SQL: engagement by day for "trending", co-engagement pairs for "more like
this", the neighbours of a track, and the candidate pools of a radio."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from oms.db.database import Database

__all__ = [
    "co_liked_pairs",
    "content_neighbours",
    "genre_pool",
    "likes_by_day",
    "popular_pool",
    "replace_similarity",
    "similar_ids",
    "write_play_figures",
    "write_trends",
]

_DAY_MS = 86_400_000


async def likes_by_day(db: Database, now_ms: int, days: int) -> list[sqlite3.Row]:
    """(track_uri, age in whole days, likes) for the likes of the last `days` days."""
    return await db.fetchall(
        "SELECT subject_uri AS track_uri, (:now - created_at) / :day AS age, count(*) AS n"
        " FROM likes WHERE created_at > :now - :days * :day AND created_at <= :now"
        " GROUP BY subject_uri, age",
        {"now": now_ms, "day": _DAY_MS, "days": days},
    )


def write_trends(
    connection: sqlite3.Connection, trends: Iterable[tuple[str, float]], now_ms: int
) -> None:
    """Replace every track's trend score: those of `trends`, zero for the rest."""
    connection.execute(
        "UPDATE track_stats SET trend = 0, updated_at = ? WHERE trend != 0", (now_ms,)
    )
    connection.executemany(
        "INSERT INTO track_stats (track_uri, trend, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (track_uri) DO UPDATE SET trend = excluded.trend,"
        " updated_at = excluded.updated_at",
        [(uri, score, now_ms) for uri, score in trends],
    )


async def co_liked_pairs(db: Database, per_listener: int) -> list[sqlite3.Row]:
    """(a, b, together, likes of a, likes of b) for every ordered pair of public tracks liked
    by the same account, each account counting with its latest `per_listener` likes."""
    return await db.fetchall(
        "WITH recent AS (SELECT l.did, l.subject_uri AS uri, row_number() OVER"
        " (PARTITION BY l.did ORDER BY l.created_at DESC) AS n FROM likes l"
        " JOIN tracks t ON t.uri = l.subject_uri AND t.visibility = 'public'),"
        " kept AS (SELECT DISTINCT did, uri FROM recent WHERE n <= ?),"
        " totals AS (SELECT uri, count(*) AS n FROM kept GROUP BY uri)"
        " SELECT x.uri AS a, y.uri AS b, count(*) AS together, ta.n AS a_total,"
        " tb.n AS b_total FROM kept x JOIN kept y ON y.did = x.did AND y.uri != x.uri"
        " JOIN totals ta ON ta.uri = x.uri JOIN totals tb ON tb.uri = y.uri"
        " GROUP BY x.uri, y.uri",
        (per_listener,),
    )


def replace_similarity(
    connection: sqlite3.Connection, rows: Iterable[tuple[str, str, float]]
) -> None:
    connection.execute("DELETE FROM track_similarity")
    connection.executemany(
        "INSERT INTO track_similarity (track_uri, similar_uri, score) VALUES (?, ?, ?)", rows
    )


async def similar_ids(db: Database, uri: str, limit: int) -> list[int]:
    """Public tracks the similarity job found near `uri`, the nearest first."""
    rows = await db.fetchall(
        "SELECT t.id FROM track_similarity s JOIN tracks t ON t.uri = s.similar_uri"
        " WHERE s.track_uri = ? AND t.visibility = 'public'"
        " ORDER BY s.score DESC, t.uri LIMIT ?",
        (uri, limit),
    )
    return [int(row[0]) for row in rows]


async def content_neighbours(
    db: Database, uri: str, exclude: Sequence[int], limit: int
) -> list[int]:
    """Public tracks sharing credited artists (weight 3), genres (2) or tags (1) with `uri`,
    the most shared first, then the most liked."""
    excluded = f" AND t.id NOT IN ({', '.join('?' * len(exclude))})" if exclude else ""
    rows = await db.fetchall(
        "WITH shared AS ("  # noqa: S608 - placeholders only
        " SELECT c2.track_uri AS uri, 3.0 AS w FROM track_credits c1"
        " JOIN track_credits c2 ON c2.name_key = c1.name_key WHERE c1.track_uri = ?"
        " UNION ALL SELECT g2.track_uri, 2.0 FROM track_genres g1"
        " JOIN track_genres g2 ON g2.genre_key = g1.genre_key WHERE g1.track_uri = ?"
        " UNION ALL SELECT x2.track_uri, 1.0 FROM track_tags x1"
        " JOIN track_tags x2 ON x2.tag_key = x1.tag_key WHERE x1.track_uri = ?)"
        " SELECT t.id FROM shared JOIN tracks t ON t.uri = shared.uri"
        " LEFT JOIN track_stats s ON s.track_uri = t.uri"
        f" WHERE t.uri != ? AND t.visibility = 'public'{excluded}"
        " GROUP BY t.id ORDER BY sum(shared.w) DESC, coalesce(s.like_count, 0) DESC, t.uri"
        " LIMIT ?",
        (uri, uri, uri, uri, *exclude, limit),
    )
    return [int(row[0]) for row in rows]


async def genre_pool(db: Database, genre_key: str, limit: int) -> list[sqlite3.Row]:
    """(id, weight) of the genre's public tracks, the most popular first."""
    return await db.fetchall(
        "SELECT t.id, 1 + coalesce(s.recent_plays, 0) + coalesce(s.like_count, 0) AS weight"
        " FROM track_genres g JOIN tracks t ON t.uri = g.track_uri"
        " LEFT JOIN track_stats s ON s.track_uri = t.uri"
        " WHERE g.genre_key = ? AND t.visibility = 'public'"
        " GROUP BY t.id ORDER BY weight DESC, t.created_at DESC LIMIT ?",
        (genre_key, limit),
    )


async def popular_pool(db: Database, limit: int) -> list[sqlite3.Row]:
    """(id, weight) of the catalog's most popular public tracks."""
    return await db.fetchall(
        "SELECT t.id, 1 + coalesce(s.recent_plays, 0) + coalesce(s.like_count, 0) AS weight"
        " FROM tracks t LEFT JOIN track_stats s ON s.track_uri = t.uri"
        " WHERE t.visibility = 'public' ORDER BY weight DESC, t.created_at DESC LIMIT ?",
        (limit,),
    )


def write_play_figures(
    connection: sqlite3.Connection, figures: Iterable[tuple[str, int, int, int]]
) -> None:
    """(track, plays, recent plays, listeners) into track_stats."""
    connection.executemany(
        "INSERT INTO track_stats (track_uri, play_count, recent_plays, listener_count)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (track_uri) DO UPDATE SET"
        " play_count = excluded.play_count, recent_plays = excluded.recent_plays,"
        " listener_count = excluded.listener_count",
        figures,
    )
