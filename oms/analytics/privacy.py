"""A listener's own listening (their history, their export, its deletion) and the node's
forgetting: raw reports older than the configured window are deleted, the rollups stay.

A listener's own views take the recorder, which flushes its journal first: a report the
listener's player just had acknowledged is in their history, their export and their deletion."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from oms.analytics import store
from oms.analytics.coverage import heard_seconds, union, unpack
from oms.analytics.fraud import DEFAULT_RULES, FraudRules
from oms.analytics.recorder import Listening
from oms.analytics.rollups import RECENT_DAYS, recompute, refresh_figures, today
from oms.db.database import Database

__all__ = [
    "HistoryEntry",
    "export_listening",
    "forget_listener",
    "history",
    "purge",
    "report_count",
]

_HISTORY_DAYS = 90
_HISTORY_SCAN = 2_000
# A track joins the history once this much of it was heard (or all of a shorter one).
_HEARD_FOR_HISTORY_S = 30


@dataclass(frozen=True)
class HistoryEntry:
    track_uri: str
    played_at: int  # ms, when the session began
    seconds: int


async def history(
    listening: Listening, listener: str, *, limit: int = 50, now_ms: int | None = None
) -> list[HistoryEntry]:
    """What `listener` heard lately, most recent first: one entry per session that heard at
    least 30 s (or all of a shorter track)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    await listening.flush()
    rows = await store.listener_reports(
        listening.db, listener, since_ms=now - _HISTORY_DAYS * store.DAY_MS, limit=_HISTORY_SCAN
    )
    sessions: dict[tuple[str, str], dict[str, Any]] = {}
    for row in reversed(rows):  # oldest first, so a session's start is its first report
        key = (row["session"], row["track_uri"])
        entry = sessions.setdefault(
            key, {"at": int(row["received_at"]), "length": row["length_s"], "heard": ()}
        )
        entry["heard"] = union(entry["heard"], unpack(bytes(row["ranges"])))
    entries = []
    for (_, uri), entry in sessions.items():
        seconds = heard_seconds(entry["heard"])
        enough = min(_HEARD_FOR_HISTORY_S, max(1, (entry["length"] or 0) - 1))
        if seconds >= enough:
            entries.append(HistoryEntry(uri, entry["at"], seconds))
    entries.sort(key=lambda e: (-e.played_at, e.track_uri))
    return entries[:limit]


async def export_listening(listening: Listening, listener: str) -> list[dict[str, Any]]:
    """Every raw report the node keeps of `listener`, most recent first, for their data
    export: which seconds of which track, when, from what client and page."""
    await listening.flush()
    rows = await store.listener_reports(listening.db, listener)
    return [
        {
            "receivedAt": int(r["received_at"]),
            "sentAt": int(r["sent_at"]),
            "sessionId": r["session"],
            "track": {"uri": r["track_uri"], "cid": r["track_cid"]},
            "secondsHeard": [list(span) for span in unpack(bytes(r["ranges"]))],
            "position": r["position_s"],
            "events": r["events"],
            "client": r["client"],
            "source": r["source"],
            "referrer": r["referrer"],
            "rendition": r["rendition"],
            "country": r["country"],
        }
        for r in rows
    ]


async def report_count(listening: Listening, listener: str) -> int:
    """How many raw reports the node keeps of `listener`."""
    await listening.flush()
    return await store.listener_report_count(listening.db, listener)


async def forget_listener(
    listening: Listening, listener: str, *, rules: FraudRules = DEFAULT_RULES
) -> int:
    """Delete `listener`'s raw listening and roll the days it touched up again without it.
    The number of days recomputed."""
    await listening.flush()
    db = listening.db
    async with db.transaction() as tx:
        days = await tx.run(lambda connection: store.forget_listener(connection, listener))
    await recompute(db, days, rules=rules)
    return len(days)


async def purge(db: Database, *, keep_days: int, now_ms: int | None = None) -> int:
    """Delete raw reports older than `keep_days` days, and bring every recently heard track's
    "last 30 days" plays up to date (days leave that window even without new listening).
    The number of reports deleted."""
    now_day = today(now_ms)
    async with db.transaction() as tx:
        deleted = await tx.run(
            lambda connection: store.purge_before(connection, now_day - keep_days)
        )
    heard = await store.tracks_heard_since(db, now_day - RECENT_DAYS - 1)
    await refresh_figures(db, heard, now_ms=now_ms)
    return deleted
