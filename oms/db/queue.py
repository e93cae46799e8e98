"""The durable job queue: jobs enqueued with the write that needs them, claimed, retried, resumed.

Rooms enqueue inside their own transaction (`enqueue(tx, ...)`), so a job exists exactly when
the write that asked for it committed. The worker that runs jobs lives in `oms.jobs`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from oms.db.database import Database, Transaction
from oms.events import Event

__all__ = [
    "Job",
    "JobHandler",
    "JobQueued",
    "claim",
    "complete",
    "enqueue",
    "fail",
    "get_job",
    "pending_counts",
    "release",
    "requeue_interrupted",
]

# Backoff of a transient failure: 5 s, 20 s, 80 s, ... capped at an hour.
_BACKOFF_BASE_MS = 5_000
_BACKOFF_CAP_MS = 3_600_000


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    dedupe_key: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    last_error: str | None


@dataclass(frozen=True)
class JobQueued(Event):
    job_id: int
    kind: str


JobHandler = Callable[[Job], Awaitable[None]]


def _now() -> int:
    return int(time.time() * 1000)


def _job(row: Any) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        dedupe_key=row["dedupe_key"],
        payload=json.loads(row["payload"]),
        state=row["state"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        last_error=row["last_error"],
    )


async def enqueue(
    tx: Transaction,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> int | None:
    """Add a job; returns its id, or None when a job of `kind` with the same `dedupe_key` is
    already queued or running (that one does the work).

    A finished (done or failed) job with the key is armed again as a fresh job, under its old
    id: the key dedupes pending work, not the history of work asked for once."""
    now = _now()
    row = await tx.fetchone(
        "INSERT INTO jobs (kind, dedupe_key, payload, max_attempts, run_after, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (kind, dedupe_key) DO UPDATE SET payload = excluded.payload,"
        " state = 'queued', attempts = 0, max_attempts = excluded.max_attempts,"
        " run_after = excluded.run_after, last_error = NULL, updated_at = excluded.updated_at"
        " WHERE jobs.state IN ('done', 'failed') RETURNING id",
        (kind, dedupe_key, json.dumps(payload or {}), max_attempts, now, now, now),
    )
    if row is None:
        return None
    job_id: int = row["id"]
    tx.publish(JobQueued(job_id, kind))
    return job_id


async def claim(db: Database, kinds: tuple[str, ...]) -> Job | None:
    """Take the oldest ready job of one of `kinds` and mark it running (one more attempt)."""
    if not kinds:
        return None
    marks = ",".join("?" * len(kinds))
    now = _now()
    async with db.transaction() as tx:
        row = await tx.fetchone(
            f"SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ? AND kind IN ({marks})"  # noqa: S608
            " ORDER BY run_after, id LIMIT 1",
            (now, *kinds),
        )
        if row is None:
            return None
        claimed = await tx.fetchone(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?"
            " WHERE id = ? RETURNING *",
            (now, row["id"]),
        )
    assert claimed is not None
    return _job(claimed)


async def complete(db: Database, job_id: int) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE jobs SET state = 'done', last_error = NULL, updated_at = ? WHERE id = ?",
            (_now(), job_id),
        )


async def fail(db: Database, job: Job, error: str, *, retry: bool) -> str:
    """Record a failure; requeue with backoff when `retry` and attempts remain.

    Returns the job's new state."""
    now = _now()
    if retry and job.attempts < job.max_attempts:
        delay = min(_BACKOFF_BASE_MS * 4 ** (job.attempts - 1), _BACKOFF_CAP_MS)
        state, run_after = "queued", now + delay
    else:
        state, run_after = "failed", now
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE jobs SET state = ?, last_error = ?, run_after = ?, updated_at = ? WHERE id = ?",
            (state, error, run_after, now, job.id),
        )
    return state


async def release(db: Database, job_id: int) -> None:
    """Give a running job back untried (the worker is stopping); its attempt does not count."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), updated_at = ?"
            " WHERE id = ? AND state = 'running'",
            (_now(), job_id),
        )


async def requeue_interrupted(db: Database) -> int:
    """At start: jobs left 'running' by a crash go back to the queue (the attempt counts)."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'", (_now(),)
        )
    return cursor.rowcount


async def get_job(db: Database, job_id: int) -> Job | None:
    row = await db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return None if row is None else _job(row)


async def pending_counts(db: Database) -> dict[tuple[str, str], int]:
    rows = await db.fetchall(
        "SELECT kind, state, count(*) FROM jobs WHERE state IN ('queued', 'running')"
        " GROUP BY kind, state"
    )
    return {(row[0], row[1]): row[2] for row in rows}
