"""Periodic upkeep on the event loop (apscheduler): the blob sweep every ten minutes, the
discovery scores (trending, more like this) every fifteen, the firehose's replay window every
hour, the listening rollups every `analytics.rollup_minutes` and the raw listening's retention
window every six hours.

Scheduled work is idempotent and keeps no state of its own; a run missed while the node was
down is simply the next run's work. Durable work belongs in the job queue instead.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from oms.analytics.privacy import purge
from oms.analytics.rollups import RollupResult, plays_by_age, roll_up
from oms.context import AppContext
from oms.library.discovery import ENGAGEMENT_DAYS, DiscoveryRefresh, refresh_discovery
from oms.pds.blobs import collect_garbage
from oms.pds.sequencer import prune_events

__all__ = [
    "BLOB_SWEEP_MINUTES",
    "DISCOVERY_MINUTES",
    "EVENT_PRUNE_MINUTES",
    "LISTENING_PURGE_MINUTES",
    "Schedule",
    "start_schedule",
]

log = logging.getLogger(__name__)

BLOB_SWEEP_MINUTES = 10
EVENT_PRUNE_MINUTES = 60
DISCOVERY_MINUTES = 15
LISTENING_PURGE_MINUTES = 360
# How long stop waits for a sweep in progress before cancelling it.
_STOP_GRACE_SECONDS = 10.0


class Schedule:
    """One node's scheduler and the runs it has under way."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self._scheduler = AsyncIOScheduler(
            event_loop=asyncio.get_running_loop(), timezone=datetime.UTC
        )
        self._runs: set[asyncio.Task[object]] = set()
        self._add("blob-sweep", self.sweep_blobs, minutes=BLOB_SWEEP_MINUTES)
        self._add("firehose-prune", self.prune_firehose, minutes=EVENT_PRUNE_MINUTES)
        self._add("discovery", self.refresh_discovery, minutes=DISCOVERY_MINUTES)
        rollup_minutes = int(context.settings["analytics.rollup_minutes"])
        self._add("listening-rollup", self.roll_up_listening, minutes=rollup_minutes)
        self._add("listening-purge", self.purge_listening, minutes=LISTENING_PURGE_MINUTES)

    def _add(self, name: str, work: Callable[[], Awaitable[object]], *, minutes: int) -> None:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._runs.add(task)
            try:
                await work()
            except Exception:
                # The next run tries again; a failing sweep must not stop the schedule.
                log.exception("scheduled %s failed", name)
            finally:
                self._runs.discard(task)

        # coalesce + one instance: runs missed while one was slow become a single run.
        self._scheduler.add_job(
            run, "interval", minutes=minutes, id=name, coalesce=True, max_instances=1
        )

    async def sweep_blobs(self) -> int:
        return await collect_garbage(
            self.context.db, self.context.blobs_dir, now_ms=int(time.time() * 1000)
        )

    async def prune_firehose(self) -> int:
        window_ms = int(self.context.settings["pds.firehose_replay_hours"]) * 3_600_000
        return await prune_events(self.context.db, int(time.time() * 1000) - window_ms)

    async def refresh_discovery(self) -> DiscoveryRefresh:
        db = self.context.db
        return await refresh_discovery(db, plays=await plays_by_age(db, ENGAGEMENT_DAYS))

    async def roll_up_listening(self) -> RollupResult:
        await self.context.listening.flush()  # every acknowledged report
        return await roll_up(
            self.context.db,
            rules=self.context.fraud_rules,
            keep_days=int(self.context.settings["analytics.raw_days"]),
        )

    async def purge_listening(self) -> int:
        keep_days = int(self.context.settings["analytics.raw_days"])
        return await purge(self.context.db, keep_days=keep_days)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self, grace_seconds: float = _STOP_GRACE_SECONDS) -> None:
        """Stop scheduling; let a run under way finish for up to `grace_seconds`."""
        if not self._scheduler.running:
            return
        # Paused first: shutting down cancels runs at once, and a sweep deserves its grace.
        self._scheduler.pause()
        runs = list(self._runs)
        if runs:
            _, pending = await asyncio.wait(runs, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._scheduler.shutdown(wait=False)


def start_schedule(context: AppContext) -> Schedule:
    """Start the node's periodic upkeep on the running event loop (call it in the lifespan)."""
    schedule = Schedule(context)
    schedule.start()
    return schedule
