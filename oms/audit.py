"""The audit log: every admin, moderation, payout and settings action, append-only.

An entry is written in the same transaction as the change it describes, so the log never
claims a change that did not happen and never misses one that did. The table's triggers refuse
updates and deletions; entries are read back newest first, filtered, and exported whole.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from oms.db.database import Database, Transaction

__all__ = [
    "CLI",
    "SETUP",
    "Actor",
    "AuditEntry",
    "csv_lines",
    "entries",
    "iter_entries",
    "record",
]


@dataclass(frozen=True)
class Actor:
    """Who acted: an account's DID, or a label for the node's operator (`cli`, `setup`), and
    the client address the action came from, when it came over the network."""

    id: str
    address: str | None = None


CLI = Actor("cli")
SETUP = Actor("setup")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: int  # ms since the epoch
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    address: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "address": self.address,
        }


def _dump(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


async def record(
    tx: Transaction,
    actor: Actor,
    action: str,
    target: str = "",
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Log `action` by `actor` on `target`, inside the transaction that makes the change."""
    await tx.execute(
        "INSERT INTO audit_log (at, actor, action, target, before, after, address)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            int(time.time() * 1000),
            actor.id,
            action,
            target,
            _dump(before),
            _dump(after),
            actor.address,
        ),
    )


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]),
        address=row["address"],
    )


def _where(action: str | None, actor: str | None, target: str | None) -> tuple[str, list[str]]:
    clauses: list[str] = []
    args: list[str] = []
    if action:
        # `account` matches account.role, account.status, ...
        clauses.append("(action = ? OR action LIKE ? ESCAPE '\\')")
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args += [action, escaped + ".%"]
    if actor:
        clauses.append("actor = ?")
        args.append(actor)
    if target:
        clauses.append("target = ?")
        args.append(target)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


async def entries(
    db: Database,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """A page of entries, newest first; `before_id` continues from the last one shown."""
    where, args = _where(action, actor, target)
    params: list[object] = list(args)
    if before_id is not None:
        where += (" AND " if where else " WHERE ") + "id < ?"
        params.append(before_id)
    rows = await db.fetchall(
        f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ?",  # noqa: S608 - fixed fragments
        (*params, limit),
    )
    return [_entry(row) for row in rows]


async def iter_entries(
    db: Database,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    batch: int = 500,
) -> AsyncIterator[AuditEntry]:
    """Every matching entry, oldest first, read in batches (for exports of any size)."""
    where, args = _where(action, actor, target)
    after = 0
    while True:
        joined = where + (" AND " if where else " WHERE ") + "id > ?"
        rows = await db.fetchall(
            f"SELECT * FROM audit_log{joined} ORDER BY id LIMIT ?",  # noqa: S608 - fixed fragments
            (*args, after, batch),
        )
        for row in rows:
            yield _entry(row)
        if len(rows) < batch:
            return
        after = rows[-1]["id"]


_CSV_FIELDS = ("id", "at", "actor", "action", "target", "before", "after", "address")


def csv_lines(items: list[AuditEntry], *, header: bool) -> Iterator[str]:
    """`items` as CSV lines (before/after as JSON text), with the header line first if asked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(_CSV_FIELDS)
    for item in items:
        writer.writerow(
            (
                item.id,
                item.at,
                item.actor,
                item.action,
                item.target,
                "" if item.before is None else json.dumps(item.before, sort_keys=True),
                "" if item.after is None else json.dumps(item.after, sort_keys=True),
                item.address or "",
            )
        )
    yield buffer.getvalue()
