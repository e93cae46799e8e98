"""The rollup job: the raw reports of each day that has new ones, made into sessions, judged
by the fraud rules and summed per track per day (plays under each rule, listeners, seconds,
completions, skips, the retention curve, the mix of sources), replacing that day's rollups.

A day is always recomputed whole from its raw reports, so the rollups equal a recomputation
from scratch at every point; the job only has to know which days have new reports (those after
`listening_state.rolled_up_to`). Days older than the raw window keep their last rollups."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oms.analytics import store
from oms.analytics.fraud import DEFAULT_RULES, FraudRules, judge
from oms.analytics.rules import PLAY_LASTFM, PLAY_OMS, PLAY_TEAL, completed, plays, skipped
from oms.analytics.sessions import SESSION_TAIL_MS, Session, build_sessions, window
from oms.analytics.sketch import estimate, merge, sketch
from oms.analytics.views import MIX_DIMENSIONS
from oms.db.database import Database
from oms.library.discovery import PlayFigures, write_play_figures

__all__ = [
    "RECENT_DAYS",
    "DayRollup",
    "RollupResult",
    "compute_day",
    "plays_by_age",
    "recompute",
    "refresh_figures",
    "roll_up",
    "summarize",
    "today",
]

log = logging.getLogger(__name__)

DAY_MS = store.DAY_MS
# "Popular" counts the plays of the last 30 days.
RECENT_DAYS = 30


def today(now_ms: int | None = None) -> int:
    return (int(time.time() * 1000) if now_ms is None else now_ms) // DAY_MS


@dataclass(frozen=True)
class DayRollup:
    day: int
    daily: list[tuple[Any, ...]]
    mix: list[tuple[Any, ...]]
    flags: list[tuple[Any, ...]]
    sessions: int
    flagged: int


@dataclass(frozen=True)
class RollupResult:
    days: int = 0
    sessions: int = 0
    flagged: int = 0


def _retention(sessions: Sequence[Session], length: int) -> bytes:
    """Per second of the track, how many of `sessions` heard it (a difference array)."""
    steps = [0] * (length + 1)
    for session in sessions:
        for start, end in session.coverage:
            if start < length:
                steps[start] += 1
                steps[min(end, length)] -= 1
    counts = array("I")
    running = 0
    for step in steps[:length]:
        running += step
        counts.append(running)
    return counts.tobytes()


def _track_rows(
    uri: str, day: int, counted: list[Session], flagged: int
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    length = max((s.length for s in counted), default=0)
    rule_counts: Counter[int] = Counter()
    completions = skips = seconds = 0
    mix: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in counted:
        b = s.plays
        for rule in (PLAY_OMS, PLAY_LASTFM, PLAY_TEAL):
            if b & rule:
                rule_counts[rule] += 1
        completions += completed(s.heard, s.length)
        skips += skipped(s.heard, s.length)
        seconds += s.heard
        for dimension in MIX_DIMENSIONS:
            value = getattr(s, dimension)
            if value:
                cell = mix[(dimension, value)]
                cell[0] += 1
                cell[1] += bool(b & PLAY_OMS)
    listeners = {s.listener for s in counted}
    daily = (
        uri,
        day,
        len(counted),
        len(listeners),
        seconds,
        rule_counts[PLAY_OMS],
        rule_counts[PLAY_LASTFM],
        rule_counts[PLAY_TEAL],
        completions,
        skips,
        flagged,
        _retention(counted, length),
        sketch(listeners),
    )
    mix_rows = [(uri, day, dim, value, n, p) for (dim, value), (n, p) in sorted(mix.items())]
    return daily, mix_rows


def summarize(day: int, sessions: Sequence[Session], rules: FraudRules) -> DayRollup:
    """A day's rollups from its sessions (those that began that day)."""
    for s in sessions:
        s.plays = plays(s.heard, s.length)
    judge(sessions, rules)
    by_track: dict[str, list[Session]] = defaultdict(list)
    flagged_by_track: Counter[str] = Counter()
    flags = []
    for s in sessions:
        if s.flag:
            flagged_by_track[s.track_uri] += 1
            flags.append(
                (day, s.session, s.track_uri, s.started_at, s.listener, s.flag, s.flag_detail)
            )
        else:
            by_track[s.track_uri].append(s)
    daily, mix = [], []
    for uri in sorted(by_track.keys() | flagged_by_track.keys()):
        row, rows = _track_rows(uri, day, by_track.get(uri, []), flagged_by_track[uri])
        daily.append(row)
        mix.extend(rows)
    return DayRollup(day, daily, mix, sorted(flags), len(sessions), len(flags))


def compute_day(path: Path, day: int, upto_id: int, rules: FraudRules) -> DayRollup:
    """Day `day`'s rollups from the raw reports up to `upto_id`, read over a connection of its
    own (blocking: run it in a thread)."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        connection.execute("PRAGMA busy_timeout=10000")
        rows = connection.execute(store.WINDOW_SQL, (*window(day), upto_id))
        sessions = [s for s in build_sessions(rows) if s.started_at // DAY_MS == day]
    finally:
        connection.close()
    return summarize(day, sessions, rules)


def _figures(rows: Sequence[sqlite3.Row], uris: Iterable[str], since_day: int) -> list[PlayFigures]:
    plays: Counter[str] = Counter()
    recent: Counter[str] = Counter()
    sketches: dict[str, list[bytes]] = defaultdict(list)
    for row in rows:
        uri = row["track_uri"]
        plays[uri] += int(row["plays_oms"])
        if int(row["day"]) >= since_day:
            recent[uri] += int(row["plays_oms"])
        sketches[uri].append(bytes(row["listener_sketch"]))
    # A track whose rollups are all gone (its listening deleted) goes back to zero.
    return [
        PlayFigures(uri, plays[uri], recent[uri], estimate(merge(sketches[uri])))
        for uri in sorted(set(uris))
    ]


async def refresh_figures(db: Database, uris: Iterable[str], *, now_ms: int | None = None) -> int:
    """Store the public figures of `uris` (plays, last 30 days' plays, listeners) from their
    daily rollups: read once, merged off the event loop, written in one transaction."""
    wanted = sorted(set(uris))
    if not wanted:
        return 0
    rows = await store.daily_totals(db, wanted)
    since = today(now_ms) - RECENT_DAYS + 1
    found = await asyncio.to_thread(_figures, rows, wanted, since)
    async with db.transaction() as tx:
        await tx.run(lambda connection: write_play_figures(connection, found))
    return len(found)


async def recompute(
    db: Database,
    days: Iterable[int],
    *,
    upto_id: int | None = None,
    rules: FraudRules = DEFAULT_RULES,
    now_ms: int | None = None,
) -> RollupResult:
    """Compute `days` again from their raw reports (up to report `upto_id`; all when None),
    a day per transaction, then the public figures of the tracks they touched, once."""
    if upto_id is None:
        upto_id = (await store.high_water(db))[1]
    total = RollupResult()
    touched: set[str] = set()
    for day in sorted(set(days)):
        rollup = await asyncio.to_thread(compute_day, db.path, day, upto_id, rules)

        def write(connection: sqlite3.Connection, rollup: DayRollup = rollup) -> list[str]:
            return store.replace_day(connection, rollup.day, rollup.daily, rollup.mix, rollup.flags)

        async with db.transaction() as tx:
            touched.update(await tx.run(write))
        total = RollupResult(
            total.days + 1, total.sessions + rollup.sessions, total.flagged + rollup.flagged
        )
    await refresh_figures(db, touched, now_ms=now_ms)
    return total


async def roll_up(
    db: Database,
    *,
    rules: FraudRules = DEFAULT_RULES,
    now_ms: int | None = None,
    keep_days: int | None = None,
) -> RollupResult:
    """Roll up every day with reports not yet rolled up. With `keep_days`, days before the
    raw window (whose reports are gone or going) are left as they are."""
    rolled, last = await store.high_water(db)
    if last <= rolled:
        return RollupResult()
    days = await store.dirty_days(db, rolled, last, DAY_MS + SESSION_TAIL_MS)
    if keep_days is not None:
        first = today(now_ms) - keep_days
        days = [d for d in days if d >= first]
    result = await recompute(db, days, upto_id=last, rules=rules, now_ms=now_ms)
    async with db.transaction() as tx:
        await tx.run(lambda connection: store.set_rolled_up_to(connection, last))
    if result.days:
        log.info(
            "listening rolled up: %d days, %d sessions, %d flagged",
            result.days,
            result.sessions,
            result.flagged,
        )
    return result


async def plays_by_age(
    db: Database, days: int, *, now_ms: int | None = None
) -> list[tuple[str, int, int]]:
    """(track, age in days, plays that day) over the last `days` days: discovery's input."""
    now_day = today(now_ms)
    rows = await store.plays_by_day(db, now_day - days + 1)
    return [(r["track_uri"], now_day - int(r["day"]), int(r["plays_oms"])) for r in rows]
