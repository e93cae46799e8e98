"""The rollups equal a recomputation from scratch over the raw reports, however the reports
arrived between rollup runs; and, for the figures a person can check by hand, a plain
second-by-second reference computation agrees with them."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from array import array
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms.analytics import rules, store
from oms.analytics.fraud import FraudRules
from oms.analytics.reports import normalize
from oms.analytics.rollups import roll_up
from oms.analytics.sessions import SESSION_GAP_MS, SESSION_TAIL_MS
from oms.db.database import Database

DAY = store.DAY_MS
START = 20_000 * DAY  # a midnight
TRACKS = {"at://did:plc:a/fm.oms.track/one": 200_000, "at://did:plc:a/fm.oms.track/two": 45_000}
CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
# Cross-session rules tight enough to fire on small examples.
RULES = FraudRules(daily_cap=2, burst_sessions=4, regular_min_sessions=4, regular_max_cv=0.01)

report = st.fixed_dictionaries(
    {
        "session": st.integers(0, 7),
        "track": st.sampled_from(sorted(TRACKS)),
        "listener": st.sampled_from([None, "did:plc:fan1", "did:plc:fan2"]),
        "device": st.sampled_from(["device-aaaa", "device-bbbb"]),
        "address": st.sampled_from(["addr1", "addr2", ""]),
        # Around two midnights, past a session's six hours' tail, with gaps over an hour.
        "at": st.integers(0, 2 * DAY + SESSION_TAIL_MS + SESSION_GAP_MS),
        "ranges": st.lists(st.tuples(st.integers(0, 260_000), st.integers(0, 60_000)), max_size=4),
        "client": st.sampled_from(["web", "embed", "subsonic"]),
        "page": st.sampled_from(["track", "release", None]),
        "zone": st.sampled_from(["Europe/Lisbon", "Asia/Tokyo", None]),
    }
)


def _normalized(r: dict[str, Any]) -> Any:
    received = START - DAY // 2 + r["at"]
    body = {
        "sessionId": f"session-{r['session']:04d}",
        "track": {"uri": r["track"], "cid": CID},
        "ranges": [{"startMs": a, "endMs": a + n} for a, n in r["ranges"]],
        "client": r["client"],
        "device": r["device"],
        "context": {"page": r["page"], "timeZone": r["zone"]},
        "sentAt": datetime.fromtimestamp(received / 1000, UTC).isoformat(),
    }  # fmt: skip
    return normalize(
        body,
        listener=r["listener"],
        duration_ms=TRACKS[r["track"]],
        received_at=received,
        address=r["address"],
        own_host="localhost",
        clients=("web", "embed", "subsonic"),
    )


_TABLES = {
    "listening_daily": "track_uri, day",
    "listening_daily_mix": "track_uri, day, dimension, value",
    "listening_flags": "day, session, track_uri",
}


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    connection = sqlite3.connect(path)
    try:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in _TABLES.items()
        }
    finally:
        connection.close()


async def _store(db: Database, reports: list[Any]) -> None:
    rows = [store.report_row(r) for r in reports]
    async with db.transaction() as tx:
        await tx.run(lambda connection: store.append(connection, rows))


async def _incremental(path: Path, reports: list[Any], cuts: list[int]) -> None:
    db = await Database.open(path)
    try:
        start = 0
        for cut in [*sorted(cuts), len(reports)]:
            await _store(db, reports[start:cut])
            start = max(start, cut)
            await roll_up(db, rules=RULES, now_ms=START + 3 * DAY)
    finally:
        await db.close()


async def _from_scratch(path: Path, reports: list[Any]) -> None:
    db = await Database.open(path)
    try:
        await _store(db, reports)
        await roll_up(db, rules=RULES, now_ms=START + 3 * DAY)
    finally:
        await db.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.lists(report, max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=4),
)
def test_rollups_equal_a_recomputation_from_scratch(
    raw: list[dict[str, Any]], cuts: list[int]
) -> None:
    reports = sorted((_normalized(r) for r in raw), key=lambda r: r.received_at)
    with tempfile.TemporaryDirectory() as folder:
        incremental, scratch = Path(folder) / "a.sqlite3", Path(folder) / "b.sqlite3"
        asyncio.run(_incremental(incremental, reports, [min(c, len(reports)) for c in cuts]))
        asyncio.run(_from_scratch(scratch, reports))
        assert _dump(incremental) == _dump(scratch)
        _agrees_with_reference(_dump(scratch), reports)


def _agrees_with_reference(tables: dict[str, list[tuple[Any, ...]]], reports: list[Any]) -> None:
    """Per track and day, over the sessions no rule flagged: sessions, seconds heard (a set
    of seconds per session), OMS plays and the retention counts."""
    flagged = {(row[1], row[2], row[3]) for row in tables["listening_flags"]}
    chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in reports:  # in stored order: each report continues its session or begins one
        found = chains[(r.session, r.track_uri)]
        if not found or r.received_at - found[-1]["last"] > SESSION_GAP_MS:
            found.append({"start": r.received_at, "last": r.received_at, "heard": set()})
        s = found[-1]
        if r.received_at >= (s["start"] // DAY + 1) * DAY + SESSION_TAIL_MS:
            continue
        s["last"] = r.received_at
        for a, b in r.ranges:
            s["heard"].update(range(a, b))
    sessions = {(sid, uri, s["start"]): s for (sid, uri), found in chains.items() for s in found}
    expected: dict[tuple[str, int], dict[str, Any]] = defaultdict(
        lambda: {"sessions": 0, "seconds": 0, "plays": 0, "curve": defaultdict(int)}
    )
    for (sid, uri, start), s in sessions.items():
        if (sid, uri, start) in flagged:
            continue
        cell = expected[(uri, s["start"] // DAY)]
        length = -(-TRACKS[uri] // 1000)
        cell["sessions"] += 1
        cell["seconds"] += len(s["heard"])
        cell["plays"] += bool(rules.plays(len(s["heard"]), length) & rules.PLAY_OMS)
        for second in s["heard"]:
            cell["curve"][second] += 1
    got = {(row[0], row[1]): row for row in tables["listening_daily"]}
    for key, cell in expected.items():
        row = got[key]
        assert (row[2], row[4], row[5]) == (cell["sessions"], cell["seconds"], cell["plays"])
        curve = array("I")
        curve.frombytes(row[11])
        assert {i: n for i, n in enumerate(curve) if n} == dict(cell["curve"])
    for key, row in got.items():
        if key not in expected:
            assert row[2] == 0  # a track-day whose every session was flagged
