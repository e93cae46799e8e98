"""The catalog indexer: follows the node's sequenced repository events in order and keeps the
catalog tables in step, saving its position in the same transaction as each batch.

`reindex` rebuilds the local catalog from the repositories' current records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass

from oms.db.database import Database, Transaction
from oms.db.queue import enqueue
from oms.errors import OmsError
from oms.events import Event, Subscription
from oms.library.records import COLLECTIONS, InvalidRecord, parse_record
from oms.library.store import writes as store
from oms.library.store.writes import MediaChanges
from oms.pds.car import read_car
from oms.pds.dagcbor import CID, DataModel, cid_to_str, decode, to_json
from oms.pds.lexicons import Lexicons
from oms.pds.sequencer import EventSequenced, StoredEvent, events_after, last_seq

__all__ = [
    "PROCESS_MEDIA",
    "REMOVE_MEDIA",
    "CatalogIndexer",
    "CatalogUpdated",
    "changes_from_event",
    "queue_media_jobs",
    "reindex",
]

# Job kinds of the media pipeline (handled by `ingest.MediaPipeline`).
PROCESS_MEDIA = "media.process"
REMOVE_MEDIA = "media.remove"

log = logging.getLogger(__name__)

_POLL_SECONDS = 1.0
_BATCH_EVENTS = 500


@dataclass(frozen=True)
class CatalogUpdated(Event):
    """The catalog now reflects every repository event up to `seq`."""

    seq: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def _record_change(
    did: str, collection: str, rkey: str, cid: str, block: bytes, lexicons: Lexicons
) -> store.Change | None:
    """The upsert of one record block, or None (logged) when it cannot be indexed."""
    try:
        value = to_json(decode(block))
        return store.Upsert(parse_record(collection, did, rkey, cid, value, lexicons))
    except (InvalidRecord, OmsError, ValueError, TypeError) as e:
        # Whatever a careless or hostile client wrote, the index skips it and moves on.
        log.warning(
            "catalog skips at://%s/%s/%s: %s",
            did,
            collection,
            rkey,
            e,
            extra={"did": did, "collection": collection, "rkey": rkey, "reason": str(e)},
        )
        return None


def changes_from_event(event: StoredEvent, lexicons: Lexicons) -> list[store.Change]:
    """What one sequenced event changes in the catalog (pure; CPU work for a thread).

    An invalid create or update removes the record's old row too: the index holds what the
    repository holds now, or nothing.
    """
    if event.kind == "account":
        if event.body.get("status") == "deleted":
            return [store.DropAccount(event.did)]
        return []
    if event.kind != "commit":
        return []
    ops = event.body.get("ops")
    if not isinstance(ops, list):
        return []
    wanted = [op for op in ops if isinstance(op, dict) and _collection(op) in COLLECTIONS]
    if not wanted:
        return []
    blocks: dict[CID, bytes] = {}
    car = event.body.get("blocks")
    if isinstance(car, bytes) and car:
        try:
            blocks = read_car(car)[1]
        except OmsError as e:
            log.warning("catalog cannot read the blocks of event %d: %s", event.seq, e)
    changes: list[store.Change] = []
    for op in wanted:
        path = str(op.get("path"))
        collection, _, rkey = path.partition("/")
        uri = f"at://{event.did}/{path}"
        cid = op.get("cid")
        if op.get("action") == "delete" or not isinstance(cid, CID):
            changes.append(store.Remove(collection, uri))
            continue
        block = blocks.get(cid)
        change = None
        if block is None:
            log.warning("catalog skips %s: its block is not in event %d", uri, event.seq)
        else:
            change = _record_change(event.did, collection, rkey, cid_to_str(cid), block, lexicons)
        changes.append(change if change is not None else store.Remove(collection, uri))
    return changes


def _collection(op: dict[str, DataModel]) -> str:
    path = op.get("path")
    return path.partition("/")[0] if isinstance(path, str) else ""


class CatalogIndexer:
    """Follows `repo_events` from the saved position: woken by `EventSequenced` on the bus,
    and by a short poll for events other processes wrote."""

    def __init__(
        self,
        db: Database,
        lexicons: Lexicons,
        *,
        batch_events: int = _BATCH_EVENTS,
        poll_seconds: float = _POLL_SECONDS,
    ) -> None:
        self.db = db
        self.lexicons = lexicons
        self.batch_events = batch_events
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._bus: Subscription | None = None

    async def start(self) -> None:
        # Subscribed before the first read, so no commit between the two goes unnoticed.
        self._bus = self.db.bus.subscribe(EventSequenced)
        self._task = asyncio.create_task(self._follow(), name="catalog-indexer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._bus is not None:
            self._bus.close()
            self._bus = None

    async def position(self) -> int:
        return await store.catalog_position(self.db)

    async def index_batch(self) -> int:
        """Index the next batch of events after the saved position; returns how many."""
        start = await store.catalog_position(self.db)
        events = await events_after(self.db, start, self.batch_events)
        if not events:
            return 0
        if events[0].seq > start + 1:
            # Events were pruned before they were indexed (the node was behind for longer
            # than the replay window, or the catalog is newer than the data): only the
            # repositories themselves can say what the catalog missed.
            log.warning(
                "catalog missed events %d..%d; rebuilding it from the repositories",
                start + 1,
                events[0].seq - 1,
            )
            await reindex(self.db, self.lexicons)
            return len(events)
        changes = await asyncio.to_thread(self._changes, events)
        end = events[-1].seq
        now = _now_ms()

        def write(connection: sqlite3.Connection) -> store.MediaChanges | None:
            if store.saved_position(connection) != start:
                return None  # someone else (a reindex) moved the position: read again
            return store.apply_changes(
                connection, changes, origin=store.LOCAL, position=end, now_ms=now
            )

        async with self.db.transaction() as tx:
            media = await tx.run(write)
            if media is not None:
                await queue_media_jobs(tx, media)
                tx.publish(CatalogUpdated(end))
        return len(events) if media is not None else 0

    async def settle(self) -> None:
        """Return once every event sequenced so far is indexed, so that a page read right
        after a write shows it (callers bound the wait with `asyncio.timeout`)."""
        updates = self.db.bus.subscribe(CatalogUpdated, maxsize=100)
        try:
            target = await last_seq(self.db)
            position = await store.catalog_position(self.db)
            while position < target:
                event = await updates.get()
                assert isinstance(event, CatalogUpdated)
                position = max(position, event.seq)
        finally:
            updates.close()

    async def settle_within(self, seconds: float) -> None:
        """`settle`, waiting `seconds` at most (a busy indexer gets there regardless)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.settle()

    async def catch_up(self) -> int:
        """Index every event sequenced so far; returns how many."""
        total = 0
        while True:
            count = await self.index_batch()
            if count == 0:
                return total
            total += count

    def _changes(self, events: list[StoredEvent]) -> list[store.Change]:
        changes: list[store.Change] = []
        for event in events:
            changes.extend(changes_from_event(event, self.lexicons))
        return changes

    async def _follow(self) -> None:
        while True:
            try:
                count = await self.index_batch()
            except Exception:
                log.exception("catalog indexer failed a batch; retrying")
                await asyncio.sleep(self.poll_seconds)
                continue
            if count == 0:
                await self._wait_for_news()

    async def _wait_for_news(self) -> None:
        assert self._bus is not None
        getter = asyncio.ensure_future(self._bus.get())
        try:
            await asyncio.wait({getter}, timeout=self.poll_seconds)
        finally:
            getter.cancel()
        # Several commits may have woken us; one read catches up with all of them.
        while not self._bus.queue.empty():
            self._bus.queue.get_nowait()


async def queue_media_jobs(tx: Transaction, media: MediaChanges) -> None:
    """The media pipeline's jobs for indexed changes, in the transaction that indexed them."""
    for did, cid in media.queued:
        await enqueue(tx, PROCESS_MEDIA, {"did": did, "cid": cid}, dedupe_key=f"{did} {cid}")
    for did, cid in media.orphaned:
        await enqueue(tx, REMOVE_MEDIA, {"did": did, "cid": cid}, dedupe_key=f"{did} {cid}")


async def reindex(db: Database, lexicons: Lexicons) -> int:
    """Rebuild the local catalog from the repositories' current records, in one transaction
    (records and the event position are read together, so indexing resumes exactly after).
    Returns the number of records indexed."""
    now = _now_ms()

    def rebuild(connection: sqlite3.Connection) -> tuple[int, store.MediaChanges]:
        position = store.replace_local_catalog(connection)
        changes: list[store.Change] = []
        for did, collection, rkey, cid, block in store.local_records(
            connection, sorted(COLLECTIONS)
        ):
            change = _record_change(did, collection, rkey, cid, block, lexicons)
            if change is not None:
                changes.append(change)
        media = store.apply_changes(
            connection, changes, origin=store.LOCAL, position=position, now_ms=now
        )
        return len(changes), MediaChanges(media.queued, store.orphaned_media(connection).orphaned)

    async with db.transaction() as tx:
        count, media = await tx.run(rebuild)
        await queue_media_jobs(tx, media)
        tx.publish(CatalogUpdated(await tx.run(store.saved_position)))
    log.info("catalog rebuilt from %d records", count)
    return count
