"""The door listening comes in by: a report is checked against the catalog, normalized, and
appended to the raw log before it is acknowledged.

Writes are grouped: reports arriving while a write is under way wait for the next one, which
takes them all in one transaction (group commit). Each caller is answered only after the
transaction holding its report committed, so an acknowledged report survives a crash; many
listeners cost one commit, not one each."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from oms.analytics import store
from oms.analytics.reports import WEB_CLIENTS, Report, normalize
from oms.db.database import Database
from oms.errors import InvalidRequest, NotFound
from oms.library.catalog import TrackLength, track_lengths

__all__ = ["Listening"]

log = logging.getLogger(__name__)

# How long the length of a track (or the absence of one) is trusted before it is read again.
_TRACK_TTL_S = 60.0
_UNKNOWN_TTL_S = 5.0
_CACHE_LIMIT = 10_000


class Listening:
    """Records players' reports for one node (held by the app context)."""

    def __init__(self, db: Database, *, own_host: str) -> None:
        self.db = db
        self.own_host = own_host
        self._tracks: dict[str, tuple[float, TrackLength | None]] = {}
        self._salts: dict[int, bytes] = {}
        self._reports: list[tuple[Report, asyncio.Future[None]]] = []
        self._rejections: list[tuple[int, str]] = []
        self._writer: asyncio.Task[None] | None = None

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
        as kept, once committed. `listener`: the signed-in account's DID, else None.
        Raises NotFound (`TrackNotFound`) or InvalidRequest (`InvalidReport`); refusals are
        counted by day and reason for the admins."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        uri = str(body["track"]["uri"])
        track = await self._track(uri)
        if track is None:
            self._refuse(now, "unknown_track")
            raise NotFound(f"no track {uri} in this node's catalog", name="TrackNotFound")
        try:
            report = normalize(
                body,
                listener=listener,
                duration_ms=track.duration_ms,
                received_at=now,
                address=await self._address_hash(address, now),
                own_host=self.own_host,
                clients=clients,
            )
        except InvalidRequest as e:
            self._refuse(now, "invalid_report")
            log.info("listening report refused: %s", e.message)
            raise
        await self._append(report)
        return report

    async def close(self) -> None:
        """Wait for the write under way (the app's shutdown calls this after the requests)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    def forget_tracks(self) -> None:
        """Drop the cached track lengths (a track was deleted or edited)."""
        self._tracks.clear()

    # --- the catalog, cached -----------------------------------------------------------

    async def _track(self, uri: str) -> TrackLength | None:
        now = time.monotonic()
        cached = self._tracks.get(uri)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = (await track_lengths(self.db, [uri])).get(uri)
        if len(self._tracks) >= _CACHE_LIMIT:
            self._tracks.clear()
        self._tracks[uri] = (now + (_TRACK_TTL_S if found else _UNKNOWN_TTL_S), found)
        return found

    async def _address_hash(self, address: str, now_ms: int) -> str:
        """The client address hashed with the day's salt: the same address gives the same
        hash all day (for the burst rule) and an unrelated one the next day."""
        day = now_ms // store.DAY_MS
        salt = self._salts.get(day)
        if salt is None:
            salt = await self.db.write(lambda connection: store.salt_for(connection, day))
            self._salts = {day: salt}
        return hashlib.sha256(salt + address.encode()).hexdigest()[:16]

    # --- group commit -----------------------------------------------------------------

    def _refuse(self, now_ms: int, reason: str) -> None:
        self._rejections.append((now_ms // store.DAY_MS, reason))
        self._start_writer()

    async def _append(self, report: Report) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reports.append((report, done))
        self._start_writer()
        await done

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())

    async def _write_pending(self) -> None:
        while self._reports or self._rejections:
            batch, self._reports = self._reports, []
            refused, self._rejections = self._rejections, []
            reports = [report for report, _ in batch]
            try:
                await self.db.write(partial(store.append, reports=reports, rejections=refused))
            except Exception as e:  # every waiting caller hears of it; the next batch retries
                log.exception("could not store %d listening reports", len(batch))
                for _, done in batch:
                    if not done.done():
                        done.set_exception(e)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
