"""Discovery: "trending" (time-decayed growth of engagement), "more like this" (item-to-item
co-engagement, falling back to shared artists, genres and tags) and an endless radio.

Engagement is likes and plays (the analytics room's daily plays, handed in by the scheduled
job); the scores are refreshed by that job (`refresh_discovery`), the reads stay cheap. The
analytics rollups also keep each track's public figures here (`write_play_figures`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound
from oms.library.records import fold
from oms.library.search import MAX_LIMIT, search_tracks, track_views
from oms.library.store import discovery as store
from oms.library.store import tracks as track_store
from oms.library.views import TrackView

__all__ = [
    "ENGAGEMENT_DAYS",
    "HALF_LIFE_DAYS",
    "DiscoveryRefresh",
    "PlayFigures",
    "radio",
    "refresh_discovery",
    "similar_tracks",
    "trend_scores",
    "trending",
    "write_play_figures",
]

log = logging.getLogger(__name__)

# Trending: this week's engagement, each day weighing half as much every HALF_LIFE_DAYS,
# minus what the previous four weeks' steady rate would have given: growth, not size.
HALF_LIFE_DAYS = 3.0
_RECENT_DAYS = 7
_BASELINE_DAYS = 28
# More like this: neighbours kept per track; likes of an account that count (its latest).
_NEIGHBOURS = 20
_PER_LISTENER = 200
_MIN_TOGETHER = 2
# Radio: how many candidates a round shuffles.
_RADIO_POOL = 200
_RADIO_CURSOR = re.compile(r"r(\d{1,6})\.(\d{1,4})")


def _weight(age_days: float) -> float:
    return float(0.5 ** (age_days / HALF_LIFE_DAYS))


# What one like a day, every day of the recent window, adds up to.
_STEADY_WEEK = sum(_weight(day + 0.5) for day in range(_RECENT_DAYS))


def trend_scores(counts: Sequence[tuple[str, int, int]]) -> dict[str, float]:
    """Trend per track from (track, age in days, engagement that day): the decayed recent
    engagement less what its baseline rate predicts. Positive means growing."""
    recent: dict[str, float] = defaultdict(float)
    baseline: dict[str, int] = defaultdict(int)
    for uri, age, n in counts:
        if age < _RECENT_DAYS:
            recent[uri] += n * _weight(age + 0.5)
        elif age < _RECENT_DAYS + _BASELINE_DAYS:
            baseline[uri] += n
    scores = {}
    for uri in recent.keys() | baseline.keys():
        expected = baseline[uri] / _BASELINE_DAYS * _STEADY_WEEK
        score = recent[uri] - expected
        if score != 0:
            scores[uri] = round(score, 6)
    return scores


@dataclass(frozen=True)
class PlayFigures:
    """A track's public listening figures, as the analytics rollups last counted them."""

    track_uri: str
    plays: int  # all time, under the OMS rule, flagged listening excluded
    recent_plays: int  # the same over the last 30 days ("popular")
    listeners: int  # distinct listeners all time (an estimate beyond a few hundred)


def write_play_figures(connection: sqlite3.Connection, figures: Sequence[PlayFigures]) -> None:
    """Store tracks' listening figures (inside the caller's transaction)."""
    store.write_play_figures(
        connection, [(f.track_uri, f.plays, f.recent_plays, f.listeners) for f in figures]
    )


@dataclass(frozen=True)
class DiscoveryRefresh:
    trending: int  # tracks with a trend score
    pairs: int  # similarity rows written


def _cosine_neighbours(rows: Sequence[sqlite3.Row]) -> list[tuple[str, str, float]]:
    near: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for row in rows:
        if row["together"] < _MIN_TOGETHER:
            continue
        score = row["together"] / math.sqrt(row["a_total"] * row["b_total"])
        near[row["a"]].append((score, row["b"]))
    out: list[tuple[str, str, float]] = []
    for uri, found in near.items():
        found.sort(key=lambda pair: (-pair[0], pair[1]))
        out.extend((uri, other, round(score, 6)) for score, other in found[:_NEIGHBOURS])
    return out


# How many days of engagement `refresh_discovery` looks at.
ENGAGEMENT_DAYS = _RECENT_DAYS + _BASELINE_DAYS


async def refresh_discovery(
    db: Database, now_ms: int | None = None, plays: Sequence[tuple[str, int, int]] = ()
) -> DiscoveryRefresh:
    """Recompute every trend score and the co-engagement neighbours of every track.
    `plays`: (track, age in days, plays that day) over the last ENGAGEMENT_DAYS days."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    days = await store.likes_by_day(db, now, ENGAGEMENT_DAYS)
    engagement = [(row["track_uri"], row["age"], row["n"]) for row in days]
    trends = trend_scores([*engagement, *plays])
    pairs = _cosine_neighbours(await store.co_liked_pairs(db, _PER_LISTENER))

    def write(connection: sqlite3.Connection) -> None:
        store.write_trends(connection, trends.items(), now)
        store.replace_similarity(connection, pairs)

    async with db.transaction() as tx:
        await tx.run(write)
    log.info("discovery refreshed: %d trending tracks, %d neighbours", len(trends), len(pairs))
    return DiscoveryRefresh(len(trends), len(pairs))


async def trending(
    db: Database, *, genre: str | None = None, limit: int = 25, cursor: str | None = None
) -> tuple[list[TrackView], str | None]:
    """Public tracks by trend score (growing fastest first)."""
    return await search_tracks(db, genre=genre, sort="trending", limit=limit, cursor=cursor)


async def _require_track(db: Database, uri: str) -> None:
    if not await track_store.track_rows(db, [uri]):
        raise NotFound(f"no track {uri} in the catalog", name="TrackNotFound")


async def _neighbour_ids(db: Database, uri: str, limit: int) -> list[int]:
    ids = await store.similar_ids(db, uri, limit)
    if len(ids) < limit:
        ids += await store.content_neighbours(db, uri, ids, limit - len(ids))
    return ids


async def similar_tracks(db: Database, uri: str, *, limit: int = 25) -> list[TrackView]:
    """Tracks like `uri`: those listeners of it also took to, then those sharing artists,
    genres or tags."""
    await _require_track(db, uri)
    limit = max(1, min(limit, MAX_LIMIT))
    ids = await _neighbour_ids(db, uri, limit)
    return await track_views(db, await track_store.tracks_by_id(db, ids))


def _round_order(pool: Sequence[tuple[int, float]], seed: str, round_no: int) -> list[int]:
    """The pool in a weighted random order (Efraimidis-Spirakis: the heavier, the earlier),
    the same for the same seed and round and different for every round."""
    digest = hashlib.sha256(f"{seed}/{round_no}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 - not for security
    keyed = [(rng.random() ** (1.0 / max(weight, 1e-9)), track_id) for track_id, weight in pool]
    keyed.sort(reverse=True)
    return [track_id for _, track_id in keyed]


def _round(pool: Sequence[tuple[int, float]], seed: str, round_no: int) -> list[int]:
    """A round's order, never starting with the track the previous round ended on."""
    order = _round_order(pool, seed, round_no)
    if round_no > 0 and len(order) > 1 and order[0] == _round_order(pool, seed, round_no - 1)[-1]:
        order[0], order[1] = order[1], order[0]
    return order


def _radio_position(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    match = _RADIO_CURSOR.fullmatch(cursor)
    if match is None:
        raise InvalidRequest("cursor is not one this node gave out")
    return int(match[1]), int(match[2])


async def _radio_pool(
    db: Database, track: str | None, genre: str | None
) -> tuple[str, list[tuple[int, float]]]:
    if track:
        await _require_track(db, track)
        ids = await _neighbour_ids(db, track, _RADIO_POOL)
        # Nearer neighbours weigh more: 1, 1/2, 1/3, ... by rank.
        return f"track:{track}", [(i, 1.0 / (1 + rank)) for rank, i in enumerate(ids)]
    key = fold((genre or "").strip())
    if not key:
        raise InvalidRequest("a radio needs a seed: track (an AT-URI) or genre")
    rows = await store.genre_pool(db, key, _RADIO_POOL)
    return f"genre:{key}", [(int(r["id"]), float(r["weight"])) for r in rows]


async def radio(
    db: Database,
    *,
    track: str | None = None,
    genre: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
) -> tuple[list[TrackView], str | None]:
    """An endless queue seeded by a track or a genre: each round plays the candidates once
    in a fresh weighted-random order, and the cursor always leads on (None only when there
    is nothing at all to play). With too few candidates, the catalog's popular tracks join."""
    limit = max(1, min(limit, MAX_LIMIT))
    round_no, offset = _radio_position(cursor)
    seed, pool = await _radio_pool(db, track, genre)
    if len(pool) < limit:
        known = {i for i, _ in pool}
        for row in await store.popular_pool(db, _RADIO_POOL):
            if int(row["id"]) not in known and len(pool) < _RADIO_POOL:
                pool.append((int(row["id"]), 1e-3 * float(row["weight"])))
    seed_id = None
    if track:
        rows = await track_store.track_rows(db, [track])
        seed_id = int(rows[0]["id"]) if rows else None
    pool = [(i, w) for i, w in pool if i != seed_id]
    if not pool:
        return [], None
    picked: list[int] = []
    while len(picked) < limit:
        order = _round(pool, seed, round_no)
        take = order[offset : offset + limit - len(picked)]
        picked.extend(take)
        offset += len(take)
        if offset >= len(order):
            round_no, offset = round_no + 1, 0
    views = await track_views(db, await track_store.tracks_by_id(db, picked))
    return views, f"r{round_no}.{offset}"
