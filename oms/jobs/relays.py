"""Asks the relays of `pds.relays` to crawl this node: one durable job per relay, queued at start
and whenever an account is created, retried with the queue's backoff while a relay is down.
"""

from __future__ import annotations

import asyncio
import logging

from oms.context import AppContext
from oms.db.queue import Job, enqueue
from oms.events import Subscription
from oms.pds.accounts import AccountCreated
from oms.pds.relays import parse_relays, relay_client, request_crawl

__all__ = ["REQUEST_CRAWL_JOB", "RelayCrawls"]

log = logging.getLogger(__name__)

REQUEST_CRAWL_JOB = "relay.request_crawl"
# With the queue's backoff (5 s, 20 s, 80 s, ... an hour at most) about four and a half hours
# of trying; after that the next start or new account asks again.
_MAX_ATTEMPTS = 10


class RelayCrawls:
    """The node's requests to its relays. Create it before the job worker (it registers its
    handler in `context.job_handlers`), `start()` it once the worker runs, `stop()` it before
    the database closes. With no relays configured it does nothing."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.relays = parse_relays(str(context.settings["pds.relays"]))
        self.hostname = context.settings.hostname
        self._subscription: Subscription | None = None
        self._listener: asyncio.Task[None] | None = None
        if self.relays:
            context.job_handlers[REQUEST_CRAWL_JOB] = self.request_crawl

    async def start(self) -> None:
        if not self.relays:
            return
        self._subscription = self.context.bus.subscribe(AccountCreated)
        self._listener = asyncio.create_task(self._listen(), name="relay-crawls")
        await self.ask_all()

    async def ask_all(self) -> int:
        """Queue a request to every relay; returns how many were not already pending (a
        relay's key dedupes: a burst of new accounts leaves one request per relay)."""
        async with self.context.db.transaction() as tx:
            queued = [
                await enqueue(
                    tx,
                    REQUEST_CRAWL_JOB,
                    {"relay": relay},
                    dedupe_key=relay,
                    max_attempts=_MAX_ATTEMPTS,
                )
                for relay in self.relays
            ]
        return sum(job_id is not None for job_id in queued)

    async def _listen(self) -> None:
        assert self._subscription is not None
        while True:
            await self._subscription.get()
            # Sign-ups that arrived meanwhile are covered by the same requests.
            while not self._subscription.queue.empty():
                self._subscription.queue.get_nowait()
            try:
                await self.ask_all()
            except Exception:
                # Not fatal: the next account or the next start asks again.
                log.exception("could not queue requestCrawl for the relays after a new account")

    async def request_crawl(self, job: Job) -> None:
        relay = str(job.payload["relay"])
        if relay not in self.relays:
            log.info("not asking %s to crawl: it is no longer in pds.relays", relay)
            return
        async with relay_client(relay) as client:
            await request_crawl(relay, self.hostname, client)
        log.info("asked relay %s to crawl %s", relay, self.hostname)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
