"""Runs durable jobs from the queue with bounded concurrency, and stops cleanly.

A handler that raises an `OmsError` of a client kind (bad input) fails its job for good; any
other exception is transient and retried with backoff. On stop, jobs still running after the
grace period are cancelled and given back to the queue, to resume at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from oms.db import queue
from oms.db.database import Database
from oms.errors import OmsError

__all__ = ["JobWorker"]

log = logging.getLogger(__name__)

_IDLE_POLL_SECONDS = 2.0
_MAX_QUEUE_PAUSE_SECONDS = 60.0


class JobWorker:
    def __init__(
        self, db: Database, handlers: Mapping[str, queue.JobHandler], concurrency: int
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.concurrency = max(1, concurrency)
        self._wake = asyncio.Event()
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[None]] = {}
        self._subscription = db.bus.subscribe(queue.JobQueued)
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        if not self.handlers:
            return
        self._listener = asyncio.create_task(self._listen(), name="jobs-listener")
        self._loops = [
            asyncio.create_task(self._loop(), name=f"jobs-{n}") for n in range(self.concurrency)
        ]

    async def _listen(self) -> None:
        while True:
            event = await self._subscription.get()
            if isinstance(event, queue.JobQueued) and event.kind in self.handlers:
                self._wake.set()

    async def _loop(self) -> None:
        """Claim and run jobs until stopped. A failure of the queue itself (the database
        refusing a write, a full disk) is logged and retried after a pause: it must not end
        the loop, which would leave jobs waiting forever with nothing said."""
        kinds = tuple(self.handlers)
        pause = _IDLE_POLL_SECONDS
        while not self._stopping:
            try:
                await self._claim_and_run(kinds)
                pause = _IDLE_POLL_SECONDS
            except Exception:
                log.exception("the job queue failed; trying again in %.0f s", pause)
                await asyncio.sleep(pause)  # a stop cancels it: no transaction is open here
                pause = min(pause * 2, _MAX_QUEUE_PAUSE_SECONDS)

    async def _claim_and_run(self, kinds: tuple[str, ...]) -> None:
        job = await queue.claim(self.db, kinds)
        if job is None:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _IDLE_POLL_SECONDS)
            return
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}-{job.kind}")
        self._running[job.id] = task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                raise
        finally:
            self._running.pop(job.id, None)

    async def _run(self, job: queue.Job) -> None:
        handler = self.handlers[job.kind]
        try:
            await handler(job)
        except asyncio.CancelledError:
            await queue.release(self.db, job.id)
            log.info("job %d (%s) interrupted; it resumes at the next start", job.id, job.kind)
            raise
        except OmsError as e:
            permanent = 400 <= e.status < 500
            state = await queue.fail(self.db, job, f"{e.name}: {e.message}", retry=not permanent)
            log.warning("job %d (%s) %s: %s", job.id, job.kind, state, e.message)
        except Exception as e:
            state = await queue.fail(self.db, job, f"{type(e).__name__}: {e}", retry=True)
            log.exception("job %d (%s) %s", job.id, job.kind, state)
        else:
            await queue.complete(self.db, job.id)

    async def stop(self, grace_seconds: float) -> None:
        """Let running jobs finish for up to `grace_seconds`, then cancel and release them."""
        self._stopping = True
        self._wake.set()
        if self._running:
            _, pending = await asyncio.wait(list(self._running.values()), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        # Idle loops notice `_stopping` at their next wake-up; cancelling one inside a claim
        # would interrupt a write transaction for nothing.
        if self._loops:
            _, stuck = await asyncio.wait(self._loops, timeout=_IDLE_POLL_SECONDS * 2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*self._loops, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
        if self._listener is not None:
            await asyncio.gather(self._listener, return_exceptions=True)
        self._subscription.close()
