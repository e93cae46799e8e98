"""The media pipeline's rows (`media`): status and progress of each audio blob, and what the
finished ladder measured; and which local tracks use an audio blob."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from oms.db.database import Database

__all__ = [
    "AudioUse",
    "MediaRow",
    "ReadyMedia",
    "audio_of_track",
    "audio_uses",
    "mark_ready",
    "media_owners",
    "media_row",
    "media_states",
    "requeue_processing",
    "set_progress",
    "set_status",
    "status_of",
]


@dataclass(frozen=True)
class ReadyMedia:
    codec: str
    lossless: bool
    sample_rate: int
    channels: int
    duration_ms: int
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    gain_db: float | None
    renditions: str  # JSON
    has_cover: bool


async def status_of(db: Database, did: str, cid: str) -> str | None:
    value = await db.fetchval(
        "SELECT status FROM media WHERE did = ? AND audio_cid = ?", (did, cid)
    )
    return None if value is None else str(value)


async def set_status(
    db: Database, did: str, cid: str, status: str, progress: float, error: str | None, now: int
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE media SET status = ?, progress = ?, error = ?, updated_at = ?"
            " WHERE did = ? AND audio_cid = ?",
            (status, progress, error, now, did, cid),
        )


async def set_progress(db: Database, did: str, cid: str, progress: float) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE media SET progress = ?"
            " WHERE did = ? AND audio_cid = ? AND status = 'processing'",
            (progress, did, cid),
        )


async def requeue_processing(db: Database, now: int) -> int:
    """At start: media a stopped or crashed node was processing waits for its job again."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE media SET status = 'queued', progress = 0, updated_at = ?"
            " WHERE status = 'processing'",
            (now,),
        )
        return int(cursor.rowcount)


async def mark_ready(db: Database, did: str, cid: str, ready: ReadyMedia, now: int) -> bool:
    """Record the finished ladder; False when the row is gone (no track uses the audio)."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE media SET status = 'ready', progress = 100, error = NULL, codec = ?,"
            " lossless = ?, sample_rate = ?, channels = ?, duration_ms = ?, loudness_lufs = ?,"
            " true_peak_dbtp = ?, gain_db = ?, renditions = ?, has_cover = ?, updated_at = ?,"
            " ready_at = ? WHERE did = ? AND audio_cid = ?",
            (
                ready.codec,
                int(ready.lossless),
                ready.sample_rate,
                ready.channels,
                ready.duration_ms,
                ready.loudness_lufs,
                ready.true_peak_dbtp,
                ready.gain_db,
                ready.renditions,
                int(ready.has_cover),
                now,
                now,
                did,
                cid,
            ),
        )
    return cursor.rowcount > 0


@dataclass(frozen=True)
class MediaRow:
    did: str
    cid: str
    status: str
    progress: float
    error: str | None
    duration_ms: int | None
    updated_at: int
    ready_at: int | None


@dataclass(frozen=True)
class AudioUse:
    """A track that uses an audio blob, with what decides who may see or fetch it."""

    uri: str
    did: str
    cid: str
    origin: str
    visibility: str
    downloadable: bool
    title: str
    headline: str | None  # the first primary credit's name (else the first credit's)


async def media_row(db: Database, did: str, cid: str) -> MediaRow | None:
    row = await db.fetchone(
        "SELECT did, audio_cid, status, progress, error, duration_ms, updated_at, ready_at"
        " FROM media WHERE did = ? AND audio_cid = ?",
        (did, cid),
    )
    if row is None:
        return None
    return MediaRow(
        did=row["did"],
        cid=row["audio_cid"],
        status=row["status"],
        progress=float(row["progress"]),
        error=row["error"],
        duration_ms=row["duration_ms"],
        updated_at=row["updated_at"],
        ready_at=row["ready_at"],
    )


async def media_owners(db: Database, cid: str) -> list[str]:
    """The repositories that have media for the audio blob `cid`, oldest first."""
    rows = await db.fetchall(
        "SELECT did FROM media WHERE audio_cid = ? ORDER BY created_at, did", (cid,)
    )
    return [str(row["did"]) for row in rows]


_USE = (
    "SELECT t.uri, t.did, t.audio_cid, t.origin, t.visibility, t.downloadable, t.title,"
    " (SELECT c.name FROM track_credits c WHERE c.track_uri = t.uri"
    "  ORDER BY c.role <> 'primary', c.position LIMIT 1) AS headline FROM tracks t"
)


def _use(row: sqlite3.Row) -> AudioUse:
    return AudioUse(
        uri=row["uri"],
        did=row["did"],
        cid=row["audio_cid"],
        origin=row["origin"],
        visibility=row["visibility"],
        downloadable=bool(row["downloadable"]),
        title=row["title"],
        headline=row["headline"],
    )


async def audio_of_track(db: Database, uri: str) -> AudioUse | None:
    row = await db.fetchone(f"{_USE} WHERE t.uri = ?", (uri,))
    return None if row is None else _use(row)


async def audio_uses(db: Database, did: str, cid: str) -> list[AudioUse]:
    """The local tracks of `did` that use its audio blob `cid`, oldest first."""
    rows = await db.fetchall(
        f"{_USE} WHERE t.did = ? AND t.audio_cid = ? AND t.origin = 'local'"
        " ORDER BY t.created_at, t.uri",
        (did, cid),
    )
    return [_use(row) for row in rows]


async def media_states(
    db: Database, did: str, cids: list[str]
) -> dict[str, tuple[str, str | None]]:
    """The status and error of `did`'s media for each of `cids` that has a row."""
    found: dict[str, tuple[str, str | None]] = {}
    for start in range(0, len(cids), 500):
        batch = cids[start : start + 500]
        rows = await db.fetchall(
            "SELECT audio_cid, status, error FROM media"  # noqa: S608 (placeholders only)
            f" WHERE did = ? AND audio_cid IN ({', '.join('?' * len(batch))})",
            (did, *batch),
        )
        found.update({row["audio_cid"]: (row["status"], row["error"]) for row in rows})
    return found
