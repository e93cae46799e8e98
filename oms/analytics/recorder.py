"""The door listening comes in by: a report is checked against the catalog, normalized, and
written to the listening journal (`oms.analytics.journal`) before it is acknowledged, so an
acknowledged report survives a crash.

The journal is moved into the database behind the answers: reports arriving while a move is
under way go in the next one, all in one transaction that also records how far the journal is
moved (many listeners cost one commit, not one each). A move that fails is retried; what a
crash leaves unmoved is replayed when the node starts (`open`). Readers that must see every
acknowledged report (rollups, a listener's export or deletion) `flush` first."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from oms.analytics import journal, store
from oms.analytics.journal import Journal, Position
from oms.analytics.reports import WEB_CLIENTS, Report, normalize
from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound, Unavailable
from oms.library.catalog import TrackLength, track_lengths

__all__ = ["Listening"]

log = logging.getLogger(__name__)

# How long the length of a track (or the absence of one) is trusted before it is read again.
_TRACK_TTL_S = 60.0
_UNKNOWN_TTL_S = 5.0
_CACHE_LIMIT = 10_000
# Reports replayed from the journal per transaction at start-up.
_REPLAY_BATCH = 2_000
# After a failed move, the wait before the next try: doubling up to the cap.
_RETRY_FIRST_S = 0.1
_RETRY_MAX_S = 5.0


class Listening:
    """Records players' reports for one node (held by the app context)."""

    def __init__(self, db: Database, *, own_host: str) -> None:
        self.db = db
        self.own_host = own_host
        self._tracks: dict[str, tuple[float, TrackLength | None]] = {}
        # The day (UTC day number) whose salt hashes client addresses, and the hashes made.
        self._day = -1
        self._salt = b""
        self._hashes: dict[str, str] = {}
        self._journal: Journal | None = None
        # In the journal, not yet in the database: as rows, made on this thread (see store.append).
        self._pending: list[tuple[Any, ...]] = []
        self._rejections: list[tuple[int, str]] = []
        self._written = Position(0, 0)  # the journal's end after the last report written
        self._moved = Position(0, 0)  # and after the last one moved
        self._mover: asyncio.Task[None] | None = None
        self._failure: Exception | None = None  # of the last move, until one succeeds
        self._retry: asyncio.TimerHandle | None = None
        self._retry_s = _RETRY_FIRST_S

    async def open(self, folder: Path) -> int:
        """Replay what the journal in `folder` holds beyond what the database has, then take
        reports. Only the node that serves the data dir opens its journal. The number of
        reports replayed."""
        moved = Position(*await store.journal_moved(self.db))
        replayed = 0
        batch: list[tuple[Any, ...]] = []
        for report, position in journal.unmoved(folder, moved):
            batch.append(store.report_row(report))
            if len(batch) >= _REPLAY_BATCH:
                await self._store(batch, [], position)
                replayed += len(batch)
                batch = []
        # Appends go to a new file; every older one is then wholly in the database.
        fresh = max([moved.generation, *journal.generations(folder)]) + 1
        await self._store(batch, [], Position(fresh, 0))
        replayed += len(batch)
        journal.remove_before(folder, fresh)
        self._journal = Journal(folder, fresh)
        self._written = self._moved = self._journal.end
        if replayed:
            log.info("replayed %d listening reports from the journal", replayed)
        return replayed

    async def report(
        self,
        body: Mapping[str, Any],
        *,
        listener: str | None,
        address: str,
        clients: Sequence[str] = WEB_CLIENTS,
        now_ms: int | None = None,
    ) -> Report:
        """Record one report (a valid fm.oms.analytics.reportListening input) and return it
        as kept, once written to the journal. `listener`: the signed-in account's DID, else None.
        Raises NotFound (`TrackNotFound`) or InvalidRequest (`InvalidReport`); refusals are
        counted by day and reason for the admins."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        uri = str(body["track"]["uri"])
        # What is cached is taken without a coroutine (the common case).
        cached = self._tracks.get(uri)
        if cached is not None and cached[0] > time.monotonic():
            track = cached[1]
        else:
            track = await self._read_track(uri)
        if track is None:
            self._refuse(now, "unknown_track")
            raise NotFound(f"no track {uri} in this node's catalog", name="TrackNotFound")
        hashed = self._hashes.get(address) if now // store.DAY_MS == self._day else None
        if hashed is None:
            hashed = await self._address_hash(address, now)
        try:
            report = normalize(
                body,
                listener=listener,
                duration_ms=track.duration_ms,
                received_at=now,
                address=hashed,
                own_host=self.own_host,
                clients=clients,
            )
        except InvalidRequest as e:
            self._refuse(now, "invalid_report")
            log.info("listening report refused: %s", e.message)
            raise
        self._append(report)
        return report

    async def flush(self) -> None:
        """Return once every report acknowledged before the call is in the database; raises
        the database's error when it cannot take them (they stay in the journal)."""
        target = self._written
        self._cancel_retry()  # try now rather than at the retry's time
        while self._moved < target:
            if self._mover is None or self._mover.done():
                self._start_mover()
            assert self._mover is not None
            await asyncio.shield(self._mover)
            if self._moved < target and self._failure is not None:
                raise self._failure
            if self._moved < target and not self._pending:
                raise RuntimeError(
                    f"listening journal at {self._moved}, nothing left to reach {target}"
                )

    async def close(self) -> None:
        """Move what is pending, once, and close the journal (the app's shutdown calls this
        after the requests). What cannot be moved now is replayed at the next start."""
        if self._journal is None:
            return
        try:
            await self.flush()
        except Exception as e:  # kept in the journal for the next start; said, not raised
            log.warning("%d listening reports stay in the journal: %s", len(self._pending), e)
        self._cancel_retry()
        self._journal.close()
        self._journal = None

    # --- the catalog, cached -----------------------------------------------------------

    async def _read_track(self, uri: str) -> TrackLength | None:
        """The length of `uri` from the catalog (None when it has no such track), cached for
        _TRACK_TTL_S (_UNKNOWN_TTL_S when it has none)."""
        found = (await track_lengths(self.db, [uri])).get(uri)
        if len(self._tracks) >= _CACHE_LIMIT:
            self._tracks.clear()
        expires = time.monotonic() + (_TRACK_TTL_S if found else _UNKNOWN_TTL_S)
        self._tracks[uri] = (expires, found)
        return found

    async def _address_hash(self, address: str, now_ms: int) -> str:
        """The client address hashed with the day's salt: the same address gives the same
        hash all day (for the burst rule) and an unrelated one the next day. Remembered for
        the day (up to _CACHE_LIMIT addresses)."""
        day = now_ms // store.DAY_MS
        if day != self._day:
            salt = await self.db.write(lambda connection: store.salt_for(connection, day))
            self._day, self._salt, self._hashes = day, salt, {}
        elif len(self._hashes) >= _CACHE_LIMIT:
            self._hashes = {}
        hashed = hashlib.sha256(self._salt + address.encode()).hexdigest()[:16]
        self._hashes[address] = hashed
        return hashed

    # --- the journal and its move into the database --------------------------------------

    def _refuse(self, now_ms: int, reason: str) -> None:
        self._rejections.append((now_ms // store.DAY_MS, reason))
        self._start_mover()

    def _append(self, report: Report) -> None:
        """Write `report` to the journal (the moment it is kept) and queue its move."""
        if self._journal is None:
            raise Unavailable("this node is not taking listening reports (it is not serving)")
        try:
            self._written = self._journal.append(report)
        except OSError as e:
            log.error("could not write to the listening journal: %s", e)
            raise Unavailable(
                f"the node cannot keep listening reports right now ({e}); try again later"
            ) from e
        self._pending.append(store.report_row(report))
        self._start_mover()

    def _start_mover(self) -> None:
        if self._retry is None and (self._mover is None or self._mover.done()):
            self._mover = asyncio.create_task(self._move())

    async def _move(self) -> None:
        while self._pending or self._rejections:
            rows, self._pending = self._pending, []
            refused, self._rejections = self._rejections, []
            through = self._written  # just after the last of `rows`
            try:
                await self._store(rows, refused, through if rows else None)
            except Exception as e:  # the journal keeps them; the next move tries again
                log.exception("could not move %d listening reports to the database", len(rows))
                self._pending[:0] = rows
                self._rejections[:0] = refused
                self._failure = e
                self._retry = asyncio.get_running_loop().call_later(self._retry_s, self._retry_now)
                self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
                return
            self._failure = None
            self._retry_s = _RETRY_FIRST_S
            if rows:
                self._moved = through
                if self._journal is not None:
                    self._journal.moved(through)

    def _retry_now(self) -> None:
        self._retry = None
        self._start_mover()

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    async def _store(
        self,
        rows: list[tuple[Any, ...]],
        refused: list[tuple[int, str]],
        through: Position | None,
    ) -> None:
        journal_at = None if through is None else (through.generation, through.offset)
        move = partial(store.append, rows=rows, rejections=refused, journal=journal_at)
        await self.db.write(move)
