"""The firehose's durable half: every repository event gets a sequence number, written in the
same transaction as the change it describes, and is announced on the bus after COMMIT.

Frames are stored as their DAG-CBOR body without `seq`; `seq` is the row's AUTOINCREMENT key
(never reused) and is added when the frame is sent.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from oms.db.database import Database, Transaction
from oms.events import Event
from oms.pds.dagcbor import DataModel, decode, encode

__all__ = [
    "EventSequenced",
    "StoredEvent",
    "events_after",
    "insert_event",
    "last_seq",
    "prune_events",
    "sequence_account",
    "sequence_commit",
    "sequence_identity",
    "sequence_sync",
]


@dataclass(frozen=True)
class EventSequenced(Event):
    seq: int
    did: str
    kind: str


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    did: str
    kind: str
    body: dict[str, DataModel]
    sequenced_at: int


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_INSERT = "INSERT INTO repo_events (did, kind, frame, sequenced_at) VALUES (?, ?, ?, ?)"


def insert_event(
    connection: sqlite3.Connection, did: str, kind: str, body: dict[str, DataModel]
) -> int:
    """The event row, written on the writer's thread inside a batch (`Transaction.run`); the
    caller publishes `EventSequenced` on its transaction."""
    cursor = connection.execute(_INSERT, (did, kind, encode(body), int(time.time() * 1000)))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def _sequence(tx: Transaction, did: str, kind: str, body: dict[str, DataModel]) -> int:
    cursor = await tx.execute(_INSERT, (did, kind, encode(body), int(time.time() * 1000)))
    seq = cursor.lastrowid
    assert seq is not None
    tx.publish(EventSequenced(seq, did, kind))
    return seq


async def sequence_commit(tx: Transaction, did: str, body: dict[str, DataModel]) -> int:
    return await _sequence(tx, did, "commit", body)


async def sequence_sync(tx: Transaction, did: str, body: dict[str, DataModel]) -> int:
    return await _sequence(tx, did, "sync", body)


async def sequence_identity(tx: Transaction, did: str, handle: str | None) -> int:
    body: dict[str, DataModel] = {"did": did, "time": now_iso()}
    if handle is not None:
        body["handle"] = handle
    return await _sequence(tx, did, "identity", body)


async def sequence_account(
    tx: Transaction, did: str, *, active: bool, status: str | None = None
) -> int:
    body: dict[str, DataModel] = {"did": did, "time": now_iso(), "active": active}
    if status is not None:
        body["status"] = status
    return await _sequence(tx, did, "account", body)


async def prune_events(db: Database, older_than_ms: int) -> int:
    """Drop events older than the replay window. The newest event always stays, so that the
    sequence (AUTOINCREMENT) and `last_seq` carry on from it after any pause."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "DELETE FROM repo_events WHERE sequenced_at < ?"
            " AND seq < (SELECT max(seq) FROM repo_events)",
            (older_than_ms,),
        )
    return cursor.rowcount


async def last_seq(db: Database) -> int:
    value = await db.fetchval("SELECT max(seq) FROM repo_events")
    return int(value or 0)


async def events_after(db: Database, seq: int, limit: int = 500) -> list[StoredEvent]:
    rows = await db.fetchall(
        "SELECT seq, did, kind, frame, sequenced_at FROM repo_events WHERE seq > ?"
        " ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    events = []
    for row in rows:
        body = decode(row["frame"])
        assert isinstance(body, dict)
        events.append(StoredEvent(row["seq"], row["did"], row["kind"], body, row["sequenced_at"]))
    return events
