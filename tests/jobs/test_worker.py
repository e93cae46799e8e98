from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from oms.db import queue
from oms.db.database import Database
from oms.errors import InvalidRequest
from oms.jobs.worker import JobWorker

pytestmark = pytest.mark.anyio


async def _enqueue(db: Database, kind: str, **payload: object) -> int:
    async with db.transaction() as tx:
        job_id = await queue.enqueue(tx, kind, dict(payload))
    assert job_id is not None
    return job_id


async def _state(db: Database, job_id: int) -> str:
    job = await queue.get_job(db, job_id)
    assert job is not None
    return job.state


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.01)


async def test_queued_jobs_run_and_complete(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    done: list[int] = []

    async def handle(job: queue.Job) -> None:
        done.append(job.payload["n"])

    worker = JobWorker(db, {"count": handle}, concurrency=2)
    worker.start()
    ids = [await _enqueue(db, "count", n=n) for n in range(5)]
    await _until(lambda: _all_done(db, ids))
    await worker.stop(1)
    assert sorted(done) == [0, 1, 2, 3, 4]
    await db.close()


async def _all_done(db: Database, ids: list[int]) -> bool:
    return all([await _state(db, i) == "done" for i in ids])


async def test_bad_input_fails_for_good_and_other_errors_are_retried(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")

    async def handle(job: queue.Job) -> None:
        if job.payload["bad"]:
            raise InvalidRequest("not an audio file")
        raise OSError("disk full")

    worker = JobWorker(db, {"work": handle}, concurrency=1)
    worker.start()
    bad = await _enqueue(db, "work", bad=True)
    flaky = await _enqueue(db, "work", bad=False)

    async def settled() -> bool:
        job = await queue.get_job(db, flaky)
        return await _state(db, bad) == "failed" and job is not None and job.last_error is not None

    await _until(settled)
    await worker.stop(1)
    failed = await queue.get_job(db, bad)
    retrying = await queue.get_job(db, flaky)
    assert failed is not None
    assert retrying is not None
    assert (failed.state, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "InvalidRequest: not an audio file",
    )
    assert (retrying.state, retrying.last_error) == ("queued", "OSError: disk full")
    await db.close()


async def test_stopping_gives_a_running_job_back_to_resume_later(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    started = asyncio.Event()

    async def slow(job: queue.Job) -> None:
        started.set()
        await asyncio.sleep(60)

    worker = JobWorker(db, {"slow": slow}, concurrency=1)
    worker.start()
    job_id = await _enqueue(db, "slow")
    await asyncio.wait_for(started.wait(), 5)
    await worker.stop(0.1)
    job = await queue.get_job(db, job_id)
    assert job is not None
    assert (job.state, job.attempts) == ("queued", 0)

    finished = asyncio.Event()

    async def quick(job: queue.Job) -> None:
        finished.set()

    resumed = JobWorker(db, {"slow": quick}, concurrency=1)
    resumed.start()
    await asyncio.wait_for(finished.wait(), 5)
    await resumed.stop(1)
    await _until(lambda: _all_done(db, [job_id]))
    await db.close()


async def test_a_failing_queue_is_logged_and_the_worker_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = await Database.open(tmp_path / "oms.sqlite3")
    done: list[int] = []

    async def handle(job: queue.Job) -> None:
        done.append(job.payload["n"])

    async def rename(old: str, new: str) -> None:
        async with db.transaction() as tx:
            await tx.execute(f"ALTER TABLE {old} RENAME TO {new}")

    await rename("jobs", "jobs_away")  # every claim now fails inside the database
    worker = JobWorker(db, {"count": handle}, concurrency=1)
    worker.start()
    await _until(lambda: _logged(caplog, "the job queue failed"))
    await rename("jobs_away", "jobs")
    job_id = await _enqueue(db, "count", n=7)
    await _until(lambda: _all_done(db, [job_id]), timeout=10)
    assert done == [7]
    await worker.stop(1)
    await db.close()


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
