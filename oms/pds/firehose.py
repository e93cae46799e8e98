"""The firehose's live half: frames of sequenced events fanned out to subscribers.

One broadcaster reads new rows of `repo_events` in order (woken by the bus after each commit,
and by a short poll for rows other processes wrote) and offers each encoded frame to every
subscriber's bounded queue; it never waits for a subscriber. A subscriber that falls too
far behind is cut off with `ConsumerTooSlow`. A subscriber with a cursor is registered live
first, then replays stored events up to where its live buffer starts, so the handover from
replay to live neither loses nor repeats an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from oms.db.database import Database
from oms.events import Subscription
from oms.pds.dagcbor import DataModel, encode
from oms.pds.sequencer import EventSequenced, StoredEvent, events_after, last_seq

__all__ = ["Firehose", "FirehoseError", "encode_error_frame", "encode_frame"]

log = logging.getLogger(__name__)

_POLL_SECONDS = 1.0
_QUEUE_FRAMES = 10_000


class FirehoseError(Exception):
    """Ends a subscription with an error frame (`FutureCursor`, `ConsumerTooSlow`)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def encode_frame(event: StoredEvent) -> bytes:
    header: dict[str, DataModel] = {"op": 1, "t": f"#{event.kind}"}
    return encode(header) + encode({**event.body, "seq": event.seq})


def encode_error_frame(name: str, message: str) -> bytes:
    return encode({"op": -1}) + encode({"error": name, "message": message})


def _info_frame(name: str, message: str) -> bytes:
    return encode({"op": 1, "t": "#info"}) + encode({"name": name, "message": message})


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[tuple[int, bytes]]
    too_slow: bool = False
    closed: bool = False


class Firehose:
    def __init__(self, db: Database, replay_hours: int) -> None:
        self.db = db
        self.replay_ms = replay_hours * 3_600_000
        self._subscribers: set[_Subscriber] = set()
        self._sent = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bus: Subscription | None = None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        self._sent = await last_seq(self.db)
        self._bus = self.db.bus.subscribe(EventSequenced)
        self._task = asyncio.create_task(self._broadcast(), name="firehose")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._bus is not None:
            self._bus.close()
        for subscriber in list(self._subscribers):
            subscriber.closed = True
            # Wake a waiting subscriber; a full queue means it is not waiting.
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait((-1, b""))

    async def _wait_for_news(self) -> None:
        assert self._bus is not None
        getter = asyncio.ensure_future(self._bus.get())
        try:
            await asyncio.wait({getter}, timeout=_POLL_SECONDS)
        finally:
            getter.cancel()

    async def _broadcast(self) -> None:
        while True:
            try:
                events = await events_after(self.db, self._sent)
            except Exception:
                log.exception("firehose could not read events; retrying")
                await asyncio.sleep(_POLL_SECONDS)
                continue
            for event in events:
                frame = encode_frame(event)
                for subscriber in list(self._subscribers):
                    try:
                        subscriber.queue.put_nowait((event.seq, frame))
                    except asyncio.QueueFull:
                        subscriber.too_slow = True
                        self._subscribers.discard(subscriber)
                self._sent = event.seq
            if not events:
                await self._wait_for_news()

    async def subscribe(self, cursor: int | None) -> AsyncIterator[bytes]:
        """Frames for one subscriber, from `cursor` (exclusive) or from now on."""
        subscriber = _Subscriber(asyncio.Queue(_QUEUE_FRAMES))
        # Registered live first: every frame after `live_from` is buffered from here on.
        # (The broadcaster hands out a batch without awaiting, so `_sent` is exact.)
        self._subscribers.add(subscriber)
        live_from = self._sent
        try:
            position = live_from
            if cursor is not None:
                async for frame in self._replay(cursor, live_from):
                    yield frame
                position = max(cursor, live_from)
            while True:
                if subscriber.too_slow:
                    raise FirehoseError(
                        "ConsumerTooSlow", "the subscriber fell too far behind the firehose"
                    )
                seq, frame = await subscriber.queue.get()
                if subscriber.closed:
                    return
                if seq <= position:
                    continue
                position = seq
                yield frame
        finally:
            self._subscribers.discard(subscriber)

    async def _replay(self, cursor: int, until: int) -> AsyncIterator[bytes]:
        """Stored frames after `cursor` up to `until`, within the replay window."""
        newest = await last_seq(self.db)
        if cursor > newest:
            raise FirehoseError(
                "FutureCursor", f"cursor {cursor} is ahead of the newest event ({newest})"
            )
        window_start = int(time.time() * 1000) - self.replay_ms
        oldest = await self.db.fetchval(
            "SELECT min(seq) FROM repo_events WHERE sequenced_at >= ?", (window_start,)
        )
        position = cursor
        if cursor < newest and (oldest is None or cursor + 1 < oldest):
            yield _info_frame(
                "OutdatedCursor",
                "the cursor is older than this node's replay window; replay starts at its "
                "oldest event",
            )
            position = until if oldest is None else oldest - 1
        while position < until:
            batch = [e for e in await events_after(self.db, position) if e.seq <= until]
            if not batch:
                return
            for event in batch:
                position = event.seq
                yield encode_frame(event)
