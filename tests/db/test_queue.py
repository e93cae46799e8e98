from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from oms.db import queue
from oms.db.database import Database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "oms.sqlite3")
    yield database
    await database.close()


async def _enqueue(
    db: Database, kind: str, key: str | None = None, **payload: object
) -> int | None:
    async with db.transaction() as tx:
        return await queue.enqueue(tx, kind, dict(payload), dedupe_key=key, max_attempts=2)


async def test_jobs_are_claimed_oldest_first_once(db: Database) -> None:
    first = await _enqueue(db, "transcode", n=1)
    second = await _enqueue(db, "transcode", n=2)
    await _enqueue(db, "other")
    job = await queue.claim(db, ("transcode",))
    assert job is not None
    assert (job.id, job.payload, job.state, job.attempts) == (first, {"n": 1}, "running", 1)
    again = await queue.claim(db, ("transcode",))
    assert again is not None
    assert again.id == second
    assert await queue.claim(db, ("transcode",)) is None
    assert await queue.pending_counts(db) == {("transcode", "running"): 2, ("other", "queued"): 1}
    await db.close()


async def test_a_dedupe_key_adds_a_job_only_once(db: Database) -> None:
    assert await _enqueue(db, "transcode", key="blob-1") is not None
    assert await _enqueue(db, "transcode", key="blob-1") is None
    assert await _enqueue(db, "artwork", key="blob-1") is not None
    await db.close()


async def test_transient_failures_retry_with_backoff_then_fail(db: Database) -> None:
    await _enqueue(db, "transcode")
    job = await queue.claim(db, ("transcode",))
    assert job is not None
    assert await queue.fail(db, job, "disk full", retry=True) == "queued"
    # Backed off: not claimable right away.
    assert await queue.claim(db, ("transcode",)) is None
    async with db.transaction() as tx:
        await tx.execute("UPDATE jobs SET run_after = 0")
    job = await queue.claim(db, ("transcode",))
    assert job is not None
    assert job.attempts == 2
    assert await queue.fail(db, job, "disk full again", retry=True) == "failed"
    stored = await queue.get_job(db, job.id)
    assert stored is not None
    assert (stored.state, stored.last_error) == ("failed", "disk full again")
    await db.close()


async def test_a_permanent_failure_is_not_retried(db: Database) -> None:
    await _enqueue(db, "transcode")
    job = await queue.claim(db, ("transcode",))
    assert job is not None
    assert await queue.fail(db, job, "not audio", retry=False) == "failed"
    await db.close()


async def test_interrupted_and_released_jobs_go_back_to_the_queue(db: Database) -> None:
    await _enqueue(db, "a")
    await _enqueue(db, "b")
    crashed = await queue.claim(db, ("a",))
    stopped = await queue.claim(db, ("b",))
    assert crashed is not None
    assert stopped is not None
    await queue.release(db, stopped.id)
    released = await queue.get_job(db, stopped.id)
    assert released is not None
    assert (released.state, released.attempts) == ("queued", 0)
    assert await queue.requeue_interrupted(db) == 1
    resumed = await queue.claim(db, ("a",))
    assert resumed is not None
    assert (resumed.id, resumed.attempts) == (crashed.id, 2)
    await queue.complete(db, resumed.id)
    done = await queue.get_job(db, resumed.id)
    assert done is not None
    assert done.state == "done"
    await db.close()


async def test_a_dedupe_key_covers_pending_jobs_only(db: Database) -> None:
    first = await _enqueue(db, "crawl", key="relay-1", n=1)
    assert first is not None
    job = await queue.claim(db, ("crawl",))
    assert job is not None
    # Running: that run does the work asked for.
    assert await _enqueue(db, "crawl", key="relay-1", n=2) is None
    await queue.complete(db, job.id)
    # Done: asking again arms the job afresh, under the same id.
    assert await _enqueue(db, "crawl", key="relay-1", n=3) == first
    rearmed = await queue.get_job(db, first)
    assert rearmed is not None
    assert (rearmed.state, rearmed.attempts, rearmed.payload) == ("queued", 0, {"n": 3})
    job = await queue.claim(db, ("crawl",))
    assert job is not None
    assert await queue.fail(db, job, "relay down", retry=False) == "failed"
    # Failed for good: a new request tries again, with its attempts and error cleared.
    assert await _enqueue(db, "crawl", key="relay-1", n=4) == first
    retried = await queue.get_job(db, first)
    assert retried is not None
    assert (retried.state, retried.attempts, retried.last_error) == ("queued", 0, None)
    assert await queue.pending_counts(db) == {("crawl", "queued"): 1}
    await db.close()
