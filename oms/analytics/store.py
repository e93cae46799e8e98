"""The analytics room's SQL: appending reports, reading them back by day for the rollups,
replacing a day's rollups, and reading rollups for the queries. Private to the room."""

from __future__ import annotations

import functools
import itertools
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from oms.analytics.coverage import pack
from oms.analytics.reports import Report
from oms.db.database import Database

__all__ = [
    "DAY_MS",
    "REPORT_COLUMNS",
    "WINDOW_SQL",
    "append",
    "daily_rows",
    "daily_totals",
    "dirty_days",
    "flag_counts",
    "flag_rows",
    "forget_listener",
    "high_water",
    "journal_moved",
    "listener_report_count",
    "listener_reports",
    "mix_rows",
    "plays_by_day",
    "purge_before",
    "rejection_rows",
    "replace_day",
    "report_row",
    "salt_for",
    "set_rolled_up_to",
    "track_sketches",
    "tracks_heard_since",
]

DAY_MS = 86_400_000
# Values per IN list, well under SQLite's limit on bound parameters.
_IN_CHUNK = 500

# A listening_reports row holds a report's fields under their own names, in their order.
REPORT_COLUMNS: tuple[str, ...] = Report._fields
_RANGES = REPORT_COLUMNS.index("ranges")
# Rows go in by multi-row INSERTs of up to _ROWS_AT_ONCE rows: one statement step for many
# rows (executemany steps once a row, giving up and taking back the GIL each time, which the
# serving thread then waits on). Chunks are powers of two, so a few statements are prepared.
_ROWS_AT_ONCE = 256


@functools.cache
def _insert_reports(rows: int) -> str:
    one = f"({', '.join('?' * len(REPORT_COLUMNS))})"
    return (
        f"INSERT INTO listening_reports ({', '.join(REPORT_COLUMNS)})"  # noqa: S608 - fixed names
        f" VALUES {', '.join([one] * rows)}"
    )


def report_row(r: Report) -> tuple[Any, ...]:
    """`r` as the values of a listening_reports row, in REPORT_COLUMNS order."""
    return (*r[:_RANGES], pack(r.ranges), *r[_RANGES + 1 :])


def append(
    connection: sqlite3.Connection,
    rows: Sequence[tuple[Any, ...]],
    rejections: Sequence[tuple[int, str]] = (),
    journal: tuple[int, int] | None = None,
) -> None:
    """Append report `rows` (`report_row`s) in order, count `rejections` ((day, reason) each)
    by day and reason, and record `journal` (generation, offset) as how far the listening
    journal is moved. The rows are made by the caller: whatever runs here holds the GIL on
    the database's thread, which the serving thread then waits for."""
    values = list(itertools.chain.from_iterable(rows))
    width = len(REPORT_COLUMNS)
    done = 0
    while done < len(rows):
        count = min(_ROWS_AT_ONCE, 1 << ((len(rows) - done).bit_length() - 1))
        connection.execute(_insert_reports(count), values[done * width : (done + count) * width])
        done += count
    if rejections:
        connection.executemany(
            "INSERT INTO listening_rejections (day, reason, count) VALUES (?, ?, 1)"
            " ON CONFLICT (day, reason) DO UPDATE SET count = count + 1",
            rejections,
        )
    if journal is not None:
        connection.execute(
            "UPDATE listening_journal SET generation = ?, position = ? WHERE id = 1", journal
        )


async def journal_moved(db: Database) -> tuple[int, int]:
    """(generation, offset): how far the listening journal is in the database."""
    row = await db.fetchone("SELECT generation, position FROM listening_journal WHERE id = 1")
    assert row is not None
    return int(row[0]), int(row[1])


def salt_for(connection: sqlite3.Connection, day: int) -> bytes:
    """The day's address salt, made on first use; salts older than yesterday are deleted."""
    connection.execute(
        "INSERT INTO listening_salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
        (day, secrets.token_bytes(16)),
    )
    connection.execute("DELETE FROM listening_salts WHERE day < ?", (day - 1,))
    row = connection.execute("SELECT salt FROM listening_salts WHERE day = ?", (day,)).fetchone()
    return bytes(row[0])


# --- rollups -------------------------------------------------------------------------------


async def high_water(db: Database) -> tuple[int, int]:
    """(the last report rolled up, the last report stored)."""
    row = await db.fetchone(
        "SELECT (SELECT rolled_up_to FROM listening_state WHERE id = 1),"
        " (SELECT coalesce(max(id), 0) FROM listening_reports)"
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def dirty_days(db: Database, after_id: int, upto_id: int, reach_ms: int) -> list[int]:
    """Days whose sessions the reports after `after_id` up to `upto_id` may belong to: from
    the day `reach_ms` before each report to the report's own day."""
    rows = await db.fetchall(
        "SELECT DISTINCT (received_at - :reach) / :day, received_at / :day"
        " FROM listening_reports WHERE id > :after AND id <= :upto",
        {"day": DAY_MS, "after": after_id, "upto": upto_id, "reach": reach_ms},
    )
    return sorted({d for row in rows for d in range(int(row[0]), int(row[1]) + 1)})


# The columns a rollup reads, in the order oms.analytics.sessions expects them.
WINDOW_SQL = (
    "SELECT received_at, session, track_uri, length_s, listener, ranges, beyond_s,"
    " client, source, referrer, rendition, country, address FROM listening_reports"
    " WHERE received_at >= ? AND received_at < ? AND id <= ? ORDER BY id"
)


def replace_day(
    connection: sqlite3.Connection,
    day: int,
    daily: Iterable[tuple[Any, ...]],
    mix: Iterable[tuple[Any, ...]],
    flags: Iterable[tuple[Any, ...]],
) -> list[str]:
    """Replace day `day`'s rollups and fraud decisions; the tracks whose rollups changed."""
    touched = {
        row[0]
        for row in connection.execute(
            "SELECT track_uri FROM listening_daily WHERE day = ?", (day,)
        ).fetchall()
    }
    connection.execute("DELETE FROM listening_daily WHERE day = ?", (day,))
    connection.execute("DELETE FROM listening_daily_mix WHERE day = ?", (day,))
    connection.execute("DELETE FROM listening_flags WHERE day = ?", (day,))
    daily = list(daily)
    connection.executemany(
        "INSERT INTO listening_daily (track_uri, day, sessions, listeners, seconds, plays_oms,"
        " plays_lastfm, plays_teal, completions, skips, flagged, retention, listener_sketch)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        daily,
    )
    connection.executemany(
        "INSERT INTO listening_daily_mix (track_uri, day, dimension, value, sessions, plays)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        mix,
    )
    connection.executemany(
        "INSERT INTO listening_flags (day, session, track_uri, started_at, listener, rule,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        flags,
    )
    touched.update(row[0] for row in daily)
    return sorted(touched)


def set_rolled_up_to(connection: sqlite3.Connection, report_id: int) -> None:
    connection.execute(
        "UPDATE listening_state SET rolled_up_to = max(rolled_up_to, ?) WHERE id = 1",
        (report_id,),
    )


async def daily_totals(db: Database, uris: Sequence[str]) -> list[sqlite3.Row]:
    """(track_uri, day, plays_oms, listener_sketch) of every daily rollup of `uris`."""
    rows: list[sqlite3.Row] = []
    for at in range(0, len(uris), _IN_CHUNK):
        rows += await db.fetchall_in(
            "SELECT track_uri, day, plays_oms, listener_sketch FROM listening_daily"
            " WHERE track_uri",
            uris[at : at + _IN_CHUNK],
        )
    return rows


# --- queries -------------------------------------------------------------------------------

_DAILY_COLUMNS = (
    "d.track_uri, d.day, d.sessions, d.listeners, d.seconds, d.plays_oms, d.plays_lastfm,"
    " d.plays_teal, d.completions, d.skips, d.flagged, d.retention, d.listener_sketch"
)


def _scope(did: str | None, track_uri: str | None) -> tuple[str, dict[str, Any]]:
    if track_uri is not None:
        return " AND d.track_uri = :uri", {"uri": track_uri}
    if did is not None:
        # The AT-URIs of a repository's records sort between these two strings.
        return " AND d.track_uri >= :lo AND d.track_uri < :hi", {
            "lo": f"at://{did}/",
            "hi": f"at://{did}0",
        }
    return "", {}


async def daily_rows(
    db: Database, first: int, last: int, *, did: str | None = None, track_uri: str | None = None
) -> list[sqlite3.Row]:
    """Daily rollups from day `first` to `last` (both included), of one track, one artist's
    tracks, or (neither) every track."""
    where, params = _scope(did, track_uri)
    return await db.fetchall(
        f"SELECT {_DAILY_COLUMNS} FROM listening_daily d"  # noqa: S608 - fixed fragments
        f" WHERE d.day BETWEEN :first AND :last{where} ORDER BY d.day, d.track_uri",
        {"first": first, "last": last, **params},
    )


async def mix_rows(
    db: Database, first: int, last: int, *, did: str | None = None, track_uri: str | None = None
) -> list[sqlite3.Row]:
    where, params = _scope(did, track_uri)
    return await db.fetchall(
        "SELECT d.dimension, d.value, sum(d.sessions) AS sessions,"  # noqa: S608 - fixed fragments
        " sum(d.plays) AS plays FROM listening_daily_mix d"
        f" WHERE d.day BETWEEN :first AND :last{where} GROUP BY d.dimension, d.value",
        {"first": first, "last": last, **params},
    )


async def track_sketches(db: Database, uri: str) -> list[bytes]:
    rows = await db.fetchall(
        "SELECT listener_sketch FROM listening_daily WHERE track_uri = ?", (uri,)
    )
    return [bytes(row[0]) for row in rows]


async def flag_rows(db: Database, first: int, last: int, limit: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT day, session, track_uri, listener, rule, detail FROM listening_flags"
        " WHERE day BETWEEN ? AND ? ORDER BY day DESC, started_at DESC, session LIMIT ?",
        (first, last, limit),
    )


async def flag_counts(db: Database, first: int, last: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT rule, count(*) AS n FROM listening_flags WHERE day BETWEEN ? AND ?"
        " GROUP BY rule ORDER BY n DESC, rule",
        (first, last),
    )


async def rejection_rows(db: Database, first: int, last: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT day, reason, count FROM listening_rejections WHERE day BETWEEN ? AND ?"
        " ORDER BY day DESC, count DESC, reason",
        (first, last),
    )


# --- a listener's own data -----------------------------------------------------------------


async def listener_reports(
    db: Database, listener: str, *, since_ms: int = 0, limit: int | None = None
) -> list[sqlite3.Row]:
    """A listener's reports since `since_ms`, the most recent first."""
    return await db.fetchall(
        "SELECT received_at, session, track_uri, track_cid, length_s, ranges, position_s,"
        " events, sent_at, client, source, referrer, rendition, country"
        " FROM listening_reports WHERE listener = ? AND received_at >= ?"
        " ORDER BY received_at DESC LIMIT ?",
        (listener, since_ms, -1 if limit is None else limit),
    )


async def listener_report_count(db: Database, listener: str) -> int:
    return int(
        await db.fetchval("SELECT count(*) FROM listening_reports WHERE listener = ?", (listener,))
    )


def forget_listener(connection: sqlite3.Connection, listener: str) -> list[int]:
    """Delete a listener's reports and the fraud decisions about them; the days they touched
    (whose rollups must be computed again without them)."""
    # A session's reports sent without the account (a page's closing beacon) go with it.
    sessions = "SELECT session FROM listening_reports WHERE listener = :who"
    days = [
        int(row[0])
        for row in connection.execute(
            "SELECT DISTINCT received_at / :day FROM listening_reports"  # noqa: S608 - fixed
            f" WHERE listener = :who OR session IN ({sessions})",
            {"day": DAY_MS, "who": listener},
        ).fetchall()
    ]
    connection.execute(
        f"DELETE FROM listening_reports WHERE listener = :who OR session IN ({sessions})",  # noqa: S608 - fixed
        {"who": listener},
    )
    connection.execute("DELETE FROM listening_flags WHERE listener = ?", (listener,))
    return days


def purge_before(connection: sqlite3.Connection, day: int) -> int:
    """Delete raw reports and fraud decisions of the days before `day`; rollups stay."""
    deleted = connection.execute(
        "DELETE FROM listening_reports WHERE received_at < ?", (day * DAY_MS,)
    ).rowcount
    connection.execute("DELETE FROM listening_flags WHERE day < ?", (day,))
    return int(deleted)


async def plays_by_day(db: Database, first: int) -> list[sqlite3.Row]:
    """(track_uri, day, plays under the OMS rule) of every track and day since day `first`."""
    return await db.fetchall(
        "SELECT track_uri, day, plays_oms FROM listening_daily WHERE day >= ? AND plays_oms > 0",
        (first,),
    )


async def tracks_heard_since(db: Database, first: int) -> list[str]:
    rows = await db.fetchall(
        "SELECT DISTINCT track_uri FROM listening_daily WHERE day >= ?", (first,)
    )
    return [str(row[0]) for row in rows]
